"""The reference's markdown results table."""

from hrpose.evaluation import STAT_NAMES, format_results_table
from hrpose.evaluation.table import HEADER_NAMES


def test_table_layout():
    table = format_results_table("pose_hrnet", dict.fromkeys(STAT_NAMES, 0.5))
    lines = table.splitlines()
    assert lines[0] == ("| Arch | AP | Ap .5 | AP .75 | AP (M) | AP (L) | AR | AR .5 | AR .75 | AR (M) "
                        "| AR (L) |")
    assert lines[1] == "|---" * 11 + "|"
    assert lines[2] == "| pose_hrnet | " + " | ".join(["0.500"] * 10) + " |"


def test_missing_stats_and_long_names():
    lines = format_results_table("a_very_long_model_name", {"AP": 0.7444, "AR (L)": 1.0}).splitlines()
    assert lines[2] == "| a_very_l... | 0.744 | " + " | ".join(["-"] * 8) + " | 1.000 |"
    assert format_results_table("exactly_15_char", {}).splitlines()[2].startswith("| exactly_15_char | - |")


def test_header_spells_the_reference_names():
    assert len(HEADER_NAMES) == len(STAT_NAMES) == 10
    assert [h for h, s in zip(HEADER_NAMES, STAT_NAMES, strict=True) if h != s] == ["Ap .5"]
