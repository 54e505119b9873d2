"""Least privilege, checked against what the run did: every AWS call a function made
(and its event source mappings made with its role) is evaluated against the inline
policies its role has in the expanded template, resolved against the deployed stack.

The evaluation covers Allow and Deny statements with Action/NotAction and
Resource/NotResource, `*` and `?` wildcards in both, actions case-insensitive. It does
not cover conditions (a statement with a Condition is taken not to apply), managed
policies attached by ARN (their documents are not in the template; they are listed),
permissions boundaries, SCPs, session policies or resource policies."""

import fnmatch
from collections import defaultdict


def as_list(value):
    return value if isinstance(value, list) else [value]


def matches_action(pattern, action):
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def matches_resource(pattern, arn):
    return fnmatch.fnmatchcase(arn, pattern)


class Statement:
    def __init__(self, role, policy, index, raw):
        self.role, self.policy, self.raw = role, policy, raw
        self.sid = raw.get("Sid") or f"{policy}[{index}]"
        self.effect = raw.get("Effect")
        self.used = defaultdict(set)  # action -> resources used

    def applies(self, action, arn):
        if "Condition" in self.raw:
            return False
        if "Action" in self.raw and not any(matches_action(p, action) for p in as_list(self.raw["Action"])):
            return False
        if "NotAction" in self.raw and any(matches_action(p, action) for p in as_list(self.raw["NotAction"])):
            return False
        if "Resource" in self.raw and not any(matches_resource(p, arn) for p in as_list(self.raw["Resource"])):
            return False
        if "NotResource" in self.raw and any(matches_resource(p, arn) for p in as_list(self.raw["NotResource"])):
            return False
        return True


class RolePolicies:
    def __init__(self, stack, function_logical):
        template = stack.template["Resources"]
        role_ref = template[function_logical]["Properties"]["Role"]
        self.role = role_ref["Fn::GetAtt"][0] if isinstance(role_ref, dict) and "Fn::GetAtt" in role_ref else None
        if self.role is None:
            raise AssertionError(f"{function_logical}: its role is not a role of the template")
        props = template[self.role]["Properties"]
        self.managed = [stack.resolve(a) for a in props.get("ManagedPolicyArns", [])]
        documents = [(p["PolicyName"], p["PolicyDocument"]) for p in props.get("Policies", [])]
        for logical, resource in template.items():
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": self.role} in resource["Properties"].get("Roles", []):
                documents.append((logical, resource["Properties"]["PolicyDocument"]))
        self.statements = []
        for name, document in documents:
            for i, raw in enumerate(as_list(stack.resolve(document)["Statement"])):
                self.statements.append(Statement(self.role, name, i, raw))

    def evaluate(self, action, arn):
        """(allowed, the Allow statements that grant it)."""
        applying = [s for s in self.statements if s.applies(action, arn)]
        if any(s.effect == "Deny" for s in applying):
            return False, []
        allows = [s for s in applying if s.effect == "Allow"]
        return bool(allows), allows


def check(stack, calls_by_function, names):
    """Evaluates every call; returns (denied lines, report text). `names` maps ARNs to
    the template's logical ids for the report."""
    denied, report = [], []
    for function in sorted(calls_by_function):
        policies = RolePolicies(stack, function)
        calls = calls_by_function[function]
        tally = defaultdict(int)
        for call in calls:
            tally[(call.via, call.action, call.resource, call.operation)] += 1
        report.append(f"{function} (role {policies.role})")
        for (via, action, arn, operation), count in sorted(tally.items()):
            allowed, statements = policies.evaluate(action, arn)
            for s in statements:
                s.used[action].add(arn)
            verdict = "allowed by " + ", ".join(sorted({s.sid for s in statements})) if allowed else "DENIED"
            within = f" in {operation}" if operation != action.split(":")[1] else ""
            report.append(f"  {action}{within} on {names(arn)} x{count} ({via}): {verdict}")
            if not allowed:
                denied.append(f"{function} ({via}) called {action} on {arn}: its role {policies.role} does not allow it")
        for s in policies.statements:
            if s.effect != "Allow":
                continue
            unused = unused_grants(s)
            if not s.used:
                report.append(f"  statement {s.sid}: used by no call")
            elif unused:
                report.append(f"  statement {s.sid}: not used in this run: {', '.join(names(u) for u in unused)}")
        if not calls:
            report.append("  (made no AWS call)")
        for arn in policies.managed:
            report.append(f"  managed policy {arn.rsplit('/', 1)[1]}: attached by SAM, not evaluated")
    return denied, "\n".join(report)


# The DynamoDB actions an index ARN means something to; the others act on the table.
INDEX_ACTIONS = {"dynamodb:query", "dynamodb:scan"}


def unused_grants(statement):
    """The action x resource pairs an Allow names (without wildcards) that no call used;
    an item action on an index ARN, which grants nothing, is left out."""
    out = []
    resources = [r for r in as_list(statement.raw.get("Resource", [])) if "*" not in r and "?" not in r]
    for action in as_list(statement.raw.get("Action", [])):
        if "*" in action:
            continue
        for resource in resources:
            if "/index/" in resource and action.lower() not in INDEX_ACTIONS:
                continue
            if resource not in statement.used.get(action, set()):
                out.append(f"{action} on {resource}")
    return out
