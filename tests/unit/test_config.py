from pathlib import Path

import pytest

from es_ltrr.common.settings import Settings, default_dirs
from es_ltrr.retrieval.arms import ARMS


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
        Settings.load(cfg, env={}, arms=ARMS)


def test_arm_tables_are_read(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[allocation]\nlexical = 10\n[rrf_weights]\nsemantic = 0.5\n")
    s = Settings.load(cfg, env={}, arms=ARMS)
    assert s.allocation == {"lexical": 10} and s.rrf_weights == {"semantic": 0.5}


def test_default_dirs_follow_xdg():
    s = Settings.load(env={"HOME": "/home/ana", "XDG_DATA_HOME": "/xdg/data", "XDG_CACHE_HOME": "/xdg/cache"})
    assert s.data_dir == Path("/xdg/data/es-ltrr") and s.cache_dir == Path("/xdg/cache/es-ltrr")


def test_default_dirs_without_xdg_are_under_home():
    s = Settings.load(env={"HOME": "/home/ana"})
    assert s.data_dir == Path("/home/ana/.local/share/es-ltrr") and s.cache_dir == Path("/home/ana/.cache/es-ltrr")


def test_a_relative_xdg_dir_is_ignored():
    """The XDG spec: a relative path in XDG_* is invalid; it must not bring back a cwd-relative dir."""
    s = Settings.load(env={"HOME": "/home/ana", "XDG_DATA_HOME": "data", "XDG_CACHE_HOME": ""})
    assert s.data_dir == Path("/home/ana/.local/share/es-ltrr") and s.cache_dir == Path("/home/ana/.cache/es-ltrr")


@pytest.mark.parametrize("platform, data, cache", [
    ("darwin", "/Users/ana/Library/Application Support/es-ltrr", "/Users/ana/Library/Caches/es-ltrr"),
    ("win32", "/local/es-ltrr", "/local/es-ltrr/Cache"),
])
def test_default_dirs_of_other_platforms(platform, data, cache):
    dirs = default_dirs({"HOME": "/Users/ana", "LOCALAPPDATA": "/local"}, platform)
    assert dirs == {"data_dir": Path(data), "cache_dir": Path(cache)}


def test_configured_dirs_win_over_the_platform_dirs(tmp_path):
    xdg = {"HOME": "/home/ana", "XDG_DATA_HOME": "/xdg/data", "XDG_CACHE_HOME": "/xdg/cache"}
    env = {**xdg, "ES_LTRR_DATA_DIR": "/env/data", "ES_LTRR_CACHE_DIR": "/env/cache"}
    assert (Settings.load(env=env).data_dir, Settings.load(env=env).cache_dir) == (Path("/env/data"), Path("/env/cache"))
    cfg = tmp_path / "c.toml"
    cfg.write_text('data_dir = "/file/data"\ncache_dir = "/file/cache"\n')
    assert Settings.load(cfg, env=xdg).data_dir == Path("/file/data")
    assert Settings.load(cfg, env=xdg).cache_dir == Path("/file/cache")
    assert Settings.load(cfg, env=xdg, data_dir=Path("/flag")).data_dir == Path("/flag")


def test_the_same_settings_from_two_working_directories_use_one_data_dir(tmp_path, monkeypatch):
    env = {"HOME": str(tmp_path / "home")}
    seen = []
    for cwd in (tmp_path / "a", tmp_path / "b"):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        s = Settings.load(env=env)
        seen.append((s.data_dir.resolve(), s.cache_dir.resolve()))
    assert seen[0] == seen[1] == ((tmp_path / "home/.local/share/es-ltrr").resolve(), (tmp_path / "home/.cache/es-ltrr").resolve())
