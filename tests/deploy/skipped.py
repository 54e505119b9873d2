"""The resource types moto's CloudFormation skips ("No Moto CloudFormation support for
..."), created here from the expanded template's own properties, resolved against the
deployed stack. A skipped resource of any other type fails the deployment: it would
otherwise be missing without anyone noticing."""

import json
import re

from intrinsics import Resolver

# Created in this order, so a stage finds its API.
HANDLED = [
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::CloudWatch::Alarm",
]


class UnsupportedSkip(AssertionError):
    pass


def fill(stack):
    """Creates every resource moto skipped; returns {logical id: type}."""
    skipped = {logical: stack.resources()[logical]["Type"] for logical in stack.skipped()}
    unknown = sorted(f"{logical} ({kind})" for logical, kind in skipped.items() if kind not in HANDLED)
    if unknown:
        raise UnsupportedSkip(
            "moto's CloudFormation skipped resources this test cannot create in its stead: "
            + ", ".join(unknown)
        )
    for kind in HANDLED:
        for logical in sorted(k for k, t in skipped.items() if t == kind):
            props = stack.resolve(stack.resources()[logical].get("Properties", {}))
            stack.created[logical] = CREATE[kind](stack, logical, props)
    redo_dependents(stack, set(skipped))
    return skipped


def references(node, names):
    """Whether `node` refers to any of the logical ids `names`."""
    if isinstance(node, list):
        return any(references(v, names) for v in node)
    if not isinstance(node, dict):
        return False
    if "Ref" in node and node["Ref"] in names:
        return True
    if "Fn::GetAtt" in node:
        target = node["Fn::GetAtt"]
        return (target.split(".")[0] if isinstance(target, str) else target[0]) in names
    if "Fn::Sub" in node:
        arg = node["Fn::Sub"]
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        used = {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
        if used & names or references(variables, names):
            return True
    return any(references(v, names) for v in node.values())


def redo_dependents(stack, skipped):
    """moto created the resources that refer to a skipped one with that reference
    unresolved ("None"). A Lambda permission is made again with it resolved; any other
    such resource fails the deployment."""
    for logical, resource in sorted(stack.resources().items()):
        if logical in skipped or not references(resource.get("Properties", {}), skipped):
            continue
        if resource["Type"] != "AWS::Lambda::Permission":
            raise UnsupportedSkip(f"{logical} ({resource['Type']}) refers to a resource moto skipped "
                                  f"({', '.join(sorted(skipped))}) and was created without it")
        props = stack.resolve(resource["Properties"])
        as_moto_saw_it = Resolver(stack.template, _Unresolved(stack, skipped), stack.parameters).resolve(resource["Properties"])
        lam = stack.moto.client("lambda")
        policy = json.loads(lam.get_policy(FunctionName=props["FunctionName"])["Policy"])
        broken = [s["Sid"] for s in policy["Statement"]
                  if s.get("Principal", {}).get("Service") == props["Principal"]
                  and s.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn") == as_moto_saw_it["SourceArn"]]
        if len(broken) != 1:
            raise UnsupportedSkip(f"{logical}: cannot find the permission moto created as {as_moto_saw_it}")
        lam.remove_permission(FunctionName=props["FunctionName"], StatementId=broken[0])
        args = {k: props[k] for k in ("FunctionName", "Action", "Principal", "SourceArn", "SourceAccount")
                if k in props}
        lam.add_permission(StatementId=logical, **args)


class _Unresolved:
    """The stack as moto's CloudFormation saw it: skipped resources resolve to None."""

    def __init__(self, stack, skipped):
        self.stack, self.skipped = stack, skipped
        self.region, self.account, self.name = stack.region, stack.account, stack.name

    def physical_id(self, logical):
        return "None" if logical in self.skipped else self.stack.physical_id(logical)

    def attribute(self, logical, name):
        return "None" if logical in self.skipped else self.stack.attribute(logical, name)


def api(stack, logical, props):
    body = props.pop("Body", None)
    extra = sorted(set(props) - {"Tags", "Name", "ProtocolType"})
    if body is None or extra:
        raise UnsupportedSkip(f"{logical}: only an HTTP API defined by an OpenAPI Body is supported (has {extra})")
    gateway = stack.moto.client("apigatewayv2")
    api_id = gateway.create_api(Name=body["info"]["title"], ProtocolType="HTTP")["ApiId"]
    schemes = body.get("components", {}).get("securitySchemes", {})
    authorizers = {name: jwt_authorizer(gateway, api_id, logical, name, scheme) for name, scheme in schemes.items()
                   if "x-amazon-apigateway-authorizer" in scheme}
    for path, methods in body.get("paths", {}).items():
        for method, operation in methods.items():
            integration = operation["x-amazon-apigateway-integration"]
            if integration.get("type") != "aws_proxy":
                raise UnsupportedSkip(f"{logical}: {method.upper()} {path}: integration {integration.get('type')}")
            created = gateway.create_integration(
                ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationMethod=integration["httpMethod"],
                IntegrationUri=integration["uri"], PayloadFormatVersion=integration["payloadFormatVersion"],
            )
            route = {"ApiId": api_id, "RouteKey": f"{method.upper()} {path}",
                     "Target": f"integrations/{created['IntegrationId']}", "AuthorizationType": "NONE"}
            for requirement in operation.get("security", []):
                for name, scopes in requirement.items():
                    if name in authorizers:
                        route.update(AuthorizationType="JWT", AuthorizerId=authorizers[name])
                        if scopes:
                            route["AuthorizationScopes"] = scopes
                    elif schemes.get(name, {}).get("x-amazon-apigateway-authtype") == "awsSigv4":
                        route["AuthorizationType"] = "AWS_IAM"
                    elif name != "NONE":
                        raise UnsupportedSkip(f"{logical}: {route['RouteKey']}: security scheme {name}")
            gateway.create_route(**route)
    return api_id


def jwt_authorizer(gateway, api_id, logical, name, scheme):
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    if authorizer.get("type") != "jwt":
        raise UnsupportedSkip(f"{logical}: authorizer {name} of type {authorizer.get('type')}")
    config = authorizer["jwtConfiguration"]
    return gateway.create_authorizer(
        ApiId=api_id, Name=name, AuthorizerType="JWT", IdentitySource=[authorizer["identitySource"]],
        JwtConfiguration={"Audience": config.get("audience", []), "Issuer": config["issuer"]},
    )["AuthorizerId"]


def stage(stack, logical, props):
    gateway = stack.moto.client("apigatewayv2")
    args = {k: props[k] for k in ("ApiId", "StageName", "AutoDeploy", "AccessLogSettings", "DefaultRouteSettings")
            if k in props}
    gateway.create_stage(**args)
    return props["StageName"]


def queue_policy(stack, logical, props):
    sqs = stack.moto.client("sqs")
    for url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
    return logical


def topic_policy(stack, logical, props):
    sns = stack.moto.client("sns")
    for arn in props["Topics"]:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy",
                                 AttributeValue=json.dumps(props["PolicyDocument"]))
    return logical


def subscription(stack, logical, props):
    attributes = {}
    for name in ("RawMessageDelivery", "FilterPolicyScope", "FilterPolicy", "RedrivePolicy", "DeliveryPolicy"):
        if name in props:
            value = props[name]
            if isinstance(value, dict):
                value = json.dumps(value)
            elif isinstance(value, bool):
                value = str(value).lower()
            attributes[name] = str(value)
    sns = stack.moto.client("sns")
    return sns.subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"],
        Attributes=attributes, ReturnSubscriptionArn=True,
    )["SubscriptionArn"]


def alarm(stack, logical, props):
    name = props.pop("AlarmName", f"{stack.name}-{logical}")
    props.pop("Tags", None)
    stack.moto.client("cloudwatch").put_metric_alarm(AlarmName=name, **props)
    return name


CREATE = {
    "AWS::ApiGatewayV2::Api": api,
    "AWS::ApiGatewayV2::Stage": stage,
    "AWS::SQS::QueuePolicy": queue_policy,
    "AWS::SNS::TopicPolicy": topic_policy,
    "AWS::SNS::Subscription": subscription,
    "AWS::CloudWatch::Alarm": alarm,
}
