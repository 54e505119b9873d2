#!/usr/bin/env python3
"""Fail if any Allow statement in an expanded (plain CloudFormation) template is broad.

Usage: check_iam.py EXPANDED.json

Looks at every policy document anywhere in the template (role policies, managed and
inline policies, queue and topic policies...) and rejects an Allow statement whose
Action has a wildcard (`*`, `dynamodb:*`, `dynamodb:Get*`), whose Resource is a bare
`*` (except in a KMS key policy, where it is the key itself, and for X-Ray's trace
actions, which accept nothing else), whose Principal is `*`, or that uses
NotAction/NotResource (an Allow with either grants everything else).
A role with managed policies attached by ARN fails too: their documents are not in the
template, so nothing here could tell what they grant.
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


# Actions that accept no resource but "*" (the service authorizes them per account).
RESOURCELESS = {"xray:puttracesegments", "xray:puttelemetryrecords"}


def problems(path, stmt):
    if stmt.get("Effect") != "Allow":
        return
    for key in ("NotAction", "NotResource"):
        if key in stmt:
            yield f"Allow with {key}"
    actions = [a for a in as_list(stmt.get("Action", [])) if isinstance(a, str)]
    for action in actions:
        if "*" in action:
            yield f"wildcard Action {action!r}"
    principal = stmt.get("Principal", {})
    for value in as_list(principal.get("AWS", []) if isinstance(principal, dict) else principal):
        if value == "*":
            yield "Allow to Principal '*'"
    # In a KMS key policy, Resource "*" is the key the policy belongs to.
    in_key_policy = "/KeyPolicy/" in path
    resourceless = bool(actions) and all(a.lower() in RESOURCELESS for a in actions)
    for resource in as_list(stmt.get("Resource", [])):
        if resource == "*" and not (in_key_policy or resourceless):
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
        for problem in problems(path, stmt):
            found += 1
            print(f"check_iam: {path}: {problem}", file=sys.stderr)
    # A managed policy's document is not in the template: it cannot be checked, so
    # none may be attached.
    for name, resource in sorted(template.get("Resources", {}).items()):
        arns = resource.get("Properties", {}).get("ManagedPolicyArns", [])
        if arns:
            found += 1
            print(f"check_iam: Resources/{name}: managed policies {json.dumps(arns)} cannot be checked",
                  file=sys.stderr)
    if found:
        return 1
    print(f"check_iam: {checked} IAM statements, no wildcard Action, '*' Resource or managed policy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
