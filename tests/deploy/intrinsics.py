"""CloudFormation intrinsic functions resolved against a deployed stack: `Ref`,
`Fn::GetAtt`, `Fn::Sub`, `Fn::If` (with the template's conditions), `Fn::Join`,
`Fn::Select`, `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`; `AWS::NoValue` drops the
key or list item it stands for. Whatever names a resource is answered by the stack's
physical ids and the resources' own attributes, read from moto."""

import re

NO_VALUE = object()


class Unresolvable(Exception):
    pass


class Resolver:
    def __init__(self, template, stack, values=None):
        self.template = template
        self.stack = stack  # stack.Stack: physical ids and attributes
        values = values or {}
        self.parameters = {}
        for name, spec in template.get("Parameters", {}).items():
            value = values.get(name, spec.get("Default"))
            if value is None:
                continue
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.parameters[name] = value if isinstance(value, list) else str(value)

    def pseudo(self, name):
        values = {
            "AWS::Region": self.stack.region,
            "AWS::AccountId": self.stack.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack.name,
            "AWS::NoValue": NO_VALUE,
        }
        if name in values:
            return values[name]
        raise Unresolvable(f"unknown pseudo parameter {name}")

    def ref(self, name):
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        return self.stack.physical_id(name)

    def condition(self, name):
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(v) for v in node]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            handler = INTRINSICS.get(key)
            if handler:
                return handler(self, arg)
        out = {}
        for key, value in node.items():
            value = self.resolve(value)
            if value is not NO_VALUE:
                out[key] = value
        return out

    def sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        variables = {k: self.resolve(v) for k, v in variables.items()}

        def replace(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return str(self.stack.attribute(logical, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


INTRINSICS = {
    "Ref": lambda r, a: r.ref(a),
    "Fn::GetAtt": lambda r, a: r.stack.attribute(*(a.split(".", 1) if isinstance(a, str) else a)),
    "Fn::Sub": lambda r, a: r.sub(a),
    "Fn::If": lambda r, a: r.resolve(a[1] if r.condition(a[0]) else a[2]),
    "Fn::Join": lambda r, a: str(a[0]).join(str(v) for v in r.resolve(a[1])),
    "Fn::Select": lambda r, a: r.resolve(a[1])[int(r.resolve(a[0]))],
    "Fn::Equals": lambda r, a: r.resolve(a[0]) == r.resolve(a[1]),
    "Fn::Not": lambda r, a: not r.resolve(a[0]),
    "Fn::And": lambda r, a: all(r.resolve(v) for v in a),
    "Fn::Or": lambda r, a: any(r.resolve(v) for v in a),
    "Condition": lambda r, a: r.condition(a),
}
