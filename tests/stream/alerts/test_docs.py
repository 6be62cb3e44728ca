"""docs/alerts.md's examples do what the page says."""

import contextlib
import io
import json
import re
from pathlib import Path

from tickwire.stream.alerts import rule_from_dict

PAGE = (Path(__file__).parents[3] / "docs" / "alerts.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", PAGE, flags=re.S)


def test_the_first_example_prints_the_fire_its_comment_shows():
    code = blocks("python")[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/alerts.md", "exec"), {})
    said = re.search(r"print\(fire\.message\)\s+# (.*)", code).group(1)
    assert out.getvalue().splitlines() == [said]


def test_the_json_rule_is_the_example_rule():
    rule = rule_from_dict(json.loads(blocks("json")[0]))
    assert rule.to_dict() == json.loads(blocks("json")[0])
    assert (rule.id, rule.condition.kind, str(rule.condition.level)) == ("aapl-200", "cross", "200")
