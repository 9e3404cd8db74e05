"""The checked-in mappings are exactly what the schema generates."""

from pathlib import Path

import pytest

from es_ltrr.common.schema import FLAVORS, MUSIC, write_mappings

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


@pytest.mark.parametrize("flavor", FLAVORS)
def test_checked_in_mappings_match_schema(flavor, tmp_path):
    write_mappings(MUSIC, tmp_path)
    assert (MAPPINGS / f"{flavor}.json").read_text() == (tmp_path / f"{flavor}.json").read_text()


def test_vector_field_per_flavor():
    es = MUSIC.index_body("elasticsearch")["mappings"]["properties"]["embedding"]
    os_ = MUSIC.index_body("opensearch")
    assert es == {"type": "dense_vector", "dims": 384, "index": True, "similarity": "cosine"}
    assert os_["mappings"]["properties"]["embedding"]["type"] == "knn_vector"
    assert os_["mappings"]["properties"]["embedding"]["dimension"] == 384
    assert os_["settings"]["index"]["knn"] is True


def test_q2e_is_rank_features_and_names_have_subfields():
    props = MUSIC.index_body("opensearch")["mappings"]["properties"]
    assert props["q2e"] == {"type": "rank_features"}
    assert set(props["name"]["fields"]) == {"exact", "trigram", "symbols"}
    assert props["name"]["fields"]["exact"]["normalizer"] == "ltrr_norm"


def test_field_lookup():
    assert MUSIC.field("name.trigram").analyzer == "ltrr_trigram"
    assert MUSIC.field("name.symbols").analyzer == "ltrr_symbol"
    assert MUSIC.field("q2e.anything").kind == "rank_features"
    with pytest.raises(KeyError):
        MUSIC.field("nope")
