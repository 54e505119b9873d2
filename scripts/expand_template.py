#!/usr/bin/env python3
"""Expand a SAM template into plain CloudFormation, offline.

Usage: expand_template.py TEMPLATE OUTPUT.json

Runs the same translator that CloudFormation's AWS::Serverless-2016-10-31 transform
runs, with no AWS credentials: the managed-policy loader is a stub, which is enough as
long as the template names managed policies by ARN (it names none by short name).
Parameters take their defaults. Local `CodeUri`s are replaced by a placeholder S3
URI, as `sam package` would replace them by the uploaded artifact's.
"""

import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from cfnlint.decode import cfn_yaml  # noqa: E402  (understands !Ref, !GetAtt, !Sub...)
from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

CODE_URI_TYPES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class OfflinePolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which asks IAM."""

    def load(self):
        raise SystemExit(
            "expand_template: the template names a managed policy by short name; "
            "use its full ARN so the template can be expanded offline"
        )


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, output = sys.argv[1], sys.argv[2]
    # Round-trip through JSON: cfn-lint's node types become plain dicts/lists/strs.
    template = json.loads(json.dumps(cfn_yaml.load(source)))
    parameters = {
        name: spec["Default"]
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
    for name, resource in template.get("Resources", {}).items():
        key = CODE_URI_TYPES.get(resource.get("Type"))
        props = resource.get("Properties", {})
        uri = props.get(key) if key else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props[key] = f"s3://packaged-artifacts/{name}.zip"
    try:
        expanded = transform(template, parameters, OfflinePolicyLoader())
    except InvalidDocumentException as err:
        for cause in err.causes:
            print(f"expand_template: {cause.message}", file=sys.stderr)
        return 1
    with open(output, "w", encoding="utf-8") as out:
        json.dump(expanded, out, indent=2, sort_keys=True)
        out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
