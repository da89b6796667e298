"""The reference's markdown results table (``_print_name_value``)."""

from collections.abc import Mapping, Sequence

# COCOeval keypoint stats, in COCOeval's order.
STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
# The reference's header spells the second column "Ap .5"; keep it so logs diff cleanly.
_HEADER = ("Ap .5" if n == "AP .5" else n for n in STAT_NAMES)
HEADER_NAMES = tuple(_HEADER)


def format_results_table(name: str, stats: Mapping[str, float],
                         stat_names: Sequence[str] = STAT_NAMES) -> str:
    """Three markdown lines: ``| Arch | AP | Ap .5 | ... |``, the rule, and ``| name | 0.744 | ... |``.

    ``stats`` maps ``stat_names`` (COCO's ``STAT_NAMES`` by default; other metrics pass theirs, e.g. the
    PCKh table's) to values; missing ones are shown as ``-``. A name longer than 15 characters is
    shortened to its first 8 characters + ``...`` as in the reference.
    """
    if len(name) > 15:
        name = name[:8] + "..."
    columns = HEADER_NAMES if tuple(stat_names) == STAT_NAMES else tuple(stat_names)
    header = "| Arch | " + " | ".join(columns) + " |"
    rule = "|---" * (len(columns) + 1) + "|"
    values = [f"{stats[k]:.3f}" if k in stats else "-" for k in stat_names]
    return "\n".join([header, rule, f"| {name} | " + " | ".join(values) + " |"])
