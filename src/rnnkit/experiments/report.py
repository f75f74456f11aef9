"""What every experiment leaves behind: a printed table, a JSON file and a PNG."""

from __future__ import annotations

import json
from pathlib import Path


def format_table(headers: list[str], rows: list[list]) -> str:
    """Right-aligned columns; floats to 4 significant digits."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)
    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(lines)


def save(out_dir: Path, name: str, title: str, table: str, results: dict, figure) -> None:
    """Print the table and write NAME.json and NAME.png into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{title}\n{table}")
    (out_dir / f"{name}.json").write_text(json.dumps({"title": title, "table": table, **results}, indent=2) + "\n")
    figure.savefig(out_dir / f"{name}.png", dpi=120, bbox_inches="tight")
    print(f"wrote {out_dir / (name + '.json')} and {out_dir / (name + '.png')}")
