from pathlib import Path

import pytest

from es_ltrr.config import Settings


def test_precedence_override_env_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('index = "from-file"\ndata_dir = "/tmp/file"\nembed = false\n')
    s = Settings.load(cfg, env={"ES_LTRR_DATA_DIR": "/tmp/env"}, index="from-flag")
    assert s.index == "from-flag"
    assert s.data_dir == Path("/tmp/env")
    assert s.embed is False


def test_env_booleans():
    assert Settings.load(env={"ES_LTRR_EMBED": "false"}).embed is False
    assert Settings.load(env={}).embed is True


def test_unknown_setting_is_an_error(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("colour = 1\n")
    with pytest.raises(ValueError, match="unknown settings.*colour"):
        Settings.load(cfg, env={})


@pytest.mark.parametrize("table", ["allocation", "rrf_weights"])
def test_a_misspelt_arm_is_an_error_not_a_disabled_arm(tmp_path, table):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[{table}]\nlexical = 10\nsemantik = 1\n")
    with pytest.raises(ValueError, match=f"unknown arm.*'{table}' of .*c.toml: semantik"):
        Settings.load(cfg, env={})


def test_arm_tables_are_read(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[allocation]\nlexical = 10\n[rrf_weights]\nsemantic = 0.5\n")
    s = Settings.load(cfg, env={})
    assert s.allocation == {"lexical": 10} and s.rrf_weights == {"semantic": 0.5}
