#!/usr/bin/env python3
"""Fail if any Allow statement in an expanded (plain CloudFormation) template is broad.

Usage: check_iam.py EXPANDED.json

Looks at every policy document anywhere in the template (role policies, managed and
inline policies, queue and topic policies...) and rejects an Allow statement whose
Action has a wildcard (`*`, `dynamodb:*`, `dynamodb:Get*`), whose Resource is a bare
`*`, or that uses NotAction/NotResource (an Allow with either grants everything else).
AWS managed policies attached by ARN are not in the template and are not checked; the
roles carrying them are listed after the check, so a broad one does not go unnoticed.
"""

import json
import sys


def as_list(value):
    return value if isinstance(value, list) else [value]


def statements(node, path):
    """Yields (path, statement) for every policy statement under node."""
    if isinstance(node, dict):
        body = node.get("Statement")
        if isinstance(body, (list, dict)):
            for i, stmt in enumerate(as_list(body)):
                if isinstance(stmt, dict) and "Effect" in stmt:
                    yield f"{path}/Statement/{i}", stmt
        for key, value in node.items():
            if key != "Statement":
                yield from statements(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from statements(value, f"{path}/{i}")


def problems(stmt):
    if stmt.get("Effect") != "Allow":
        return
    for key in ("NotAction", "NotResource"):
        if key in stmt:
            yield f"Allow with {key}"
    for action in as_list(stmt.get("Action", [])):
        if isinstance(action, str) and "*" in action:
            yield f"wildcard Action {action!r}"
    for resource in as_list(stmt.get("Resource", [])):
        if resource == "*":
            yield "bare '*' Resource"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        template = json.load(f)
    found = 0
    checked = 0
    for path, stmt in statements(template.get("Resources", {}), "Resources"):
        checked += 1
        for problem in problems(stmt):
            found += 1
            print(f"check_iam: {path}: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"check_iam: {checked} IAM statements, no wildcard Action or '*' Resource")
    # Say what was not looked at, so a broad managed policy does not go unnoticed.
    for name, resource in sorted(template.get("Resources", {}).items()):
        arns = resource.get("Properties", {}).get("ManagedPolicyArns", [])
        names = [arn.rsplit("/", 1)[-1] if isinstance(arn, str) else json.dumps(arn) for arn in as_list(arns)]
        if names:
            print(f"check_iam: not checked, managed policies on {name}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
