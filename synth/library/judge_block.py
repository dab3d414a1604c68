"""A persona's ``judge:`` block: parse and check it (file:line: field), and write it back.

```yaml
judge:
  threshold: 3          # the lowest score (1-5) on every criterion that passes
  endpoint: openai      # optional: else the workspace's defaults.judge_endpoint, else the run's
  model: gpt-4o-mini    # optional: else the endpoint's default model
  criteria:
    - name: next-step
      description: Every Eve reply ends with one concrete next step or a question.
```

With no ``criteria`` the rubric is built from the persona's description and its pattern rules'
reasons when it is used (``synth.curate.judge.rubric_for``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from synth.errors import LibraryError
from synth.persona_blocks import JudgeCriterion, JudgeSpec
from synth.library.yamlio import item_line, key_lines, unknown_key_message

JUDGE_KEYS = {"criteria", "threshold", "endpoint", "model"}
CRITERION_KEYS = {"name", "description"}


def parse_judge(raw: Any, *, path: Path | None, line: int | None) -> JudgeSpec | None:
    """The ``judge:`` block, or None when the persona has none.  The first problem is raised."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise LibraryError("must be a mapping (criteria, threshold, endpoint, model)",
                           path=path, line=line, field="judge")
    lines = key_lines(raw)
    for key in raw:
        if str(key) not in JUDGE_KEYS:
            raise LibraryError(unknown_key_message(str(key), JUDGE_KEYS), path=path,
                               line=lines.get(str(key), line), field=f"judge.{key}")
    threshold = raw.get("threshold", 3)
    if threshold is None:
        threshold = 3
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not math.isfinite(threshold) or not 1 <= threshold <= 5:
        raise LibraryError(f"must be a number between 1 and 5, got {threshold!r}", path=path,
                           line=lines.get("threshold", line), field="judge.threshold")
    names: dict[str, str | None] = {}
    for key in ("endpoint", "model"):
        val = raw.get(key)
        if val is not None and (not isinstance(val, str) or not val.strip()):
            raise LibraryError(f"must be a name, got {val!r}", path=path,
                               line=lines.get(key, line), field=f"judge.{key}")
        names[key] = val.strip() if isinstance(val, str) else None
    crit_raw = raw.get("criteria") or []
    if not isinstance(crit_raw, list):
        raise LibraryError("must be a list of {name, description}", path=path,
                           line=lines.get("criteria", line), field="judge.criteria")
    criteria: list[JudgeCriterion] = []
    for i, c in enumerate(crit_raw):
        cline = item_line(crit_raw, i) or lines.get("criteria", line)
        fld = f"judge.criteria[{i}]"
        if not isinstance(c, dict):
            raise LibraryError("must be a mapping with name and description", path=path,
                               line=cline, field=fld)
        for key in c:
            if str(key) not in CRITERION_KEYS:
                raise LibraryError(unknown_key_message(str(key), CRITERION_KEYS), path=path,
                                   line=cline, field=f"{fld}.{key}")
        for key in ("name", "description"):
            if not isinstance(c.get(key), str) or not c[key].strip():
                raise LibraryError("required text is missing", path=path, line=cline,
                                   field=f"{fld}.{key}")
        name = c["name"].strip()
        if any(x.name == name for x in criteria):
            raise LibraryError(f"a second criterion named {name!r}", path=path, line=cline,
                               field=f"{fld}.name")
        criteria.append(JudgeCriterion(name=name, description=" ".join(c["description"].split())))
    return JudgeSpec(criteria=criteria, threshold=float(threshold), endpoint=names["endpoint"],
                     model=names["model"])


def judge_to_mapping(judge: JudgeSpec) -> dict[str, Any]:
    """The block as it is written back to the persona file (defaults left out)."""
    d: dict[str, Any] = {}
    if judge.threshold != 3:
        d["threshold"] = int(judge.threshold) if judge.threshold == int(judge.threshold) \
            else judge.threshold
    if judge.endpoint:
        d["endpoint"] = judge.endpoint
    if judge.model:
        d["model"] = judge.model
    if judge.criteria:
        d["criteria"] = [{"name": c.name, "description": c.description} for c in judge.criteria]
    return d
