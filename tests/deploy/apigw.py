"""API Gateway's HTTP API played from the deployed API's routes, integrations and
authorizers: a request is matched to a route key, refused as API Gateway refuses it (no
route: 404; an IAM route without a signature: 403; a JWT route without a token: 401, or
with a token carrying none of the route's scopes: 403), or turned into a payload 2.0
event for the integration's function, with the caller in `requestContext.authorizer`
(`iam`, or `jwt` with the token's claims and scopes). The function must allow API
Gateway to invoke it from that route (its resource policy, from the template's
AWS::Lambda::Permission).

Tokens are not signed or checked here: a request is "signed" or carries the claims
given, as if the authorizer had verified them; by default a service's token with
every scope the API's routes ask for."""

import base64
import datetime
import fnmatch
import json
import re
import uuid


class HttpApi:
    def __init__(self, stack, api_id, functions_by_arn):
        self.stack, self.api_id = stack, api_id
        gateway = stack.moto.client("apigatewayv2")
        integrations = {i["IntegrationId"]: i for i in gateway.get_integrations(ApiId=api_id)["Items"]}
        self.authorizers = {}  # moto's GetAuthorizers fails: each is read by id below
        self.stage = gateway.get_stages(ApiId=api_id)["Items"][0]["StageName"]
        self.routes = []
        for route in gateway.get_routes(ApiId=api_id)["Items"]:
            integration = integrations[route["Target"].split("/", 1)[1]]
            function_arn = re.search(r"functions/(arn:[^/]+)/invocations", integration["IntegrationUri"]).group(1)
            method, path = route["RouteKey"].split(" ", 1)
            if route.get("AuthorizerId") and route["AuthorizerId"] not in self.authorizers:
                self.authorizers[route["AuthorizerId"]] = gateway.get_authorizer(
                    ApiId=api_id, AuthorizerId=route["AuthorizerId"])
            pattern = "^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$"
            self.routes.append({
                "key": route["RouteKey"], "method": method, "path": path, "regex": re.compile(pattern),
                "auth": route.get("AuthorizationType", "NONE"), "authorizer": route.get("AuthorizerId"),
                "scopes": route.get("AuthorizationScopes", []), "function": functions_by_arn[function_arn],
                "payload": integration.get("PayloadFormatVersion"),
            })
        self.routes.sort(key=lambda r: r["path"].count("{"))
        self.policies = {}

    def route_keys(self):
        return sorted(r["key"] for r in self.routes)

    def auth(self, method, path):
        route, _ = self.match(method, path)
        return route and route["auth"]

    def token(self, route, claims):
        """The claims of the token a request carries: a service's token with every scope
        the API asks for, issued for the route's authorizer, with `claims` on top."""
        config = self.authorizers[route["authorizer"]].get("JwtConfiguration", {})
        scopes = sorted({s for r in self.routes for s in r["scopes"]})
        token = {"sub": "deploy-test", "iss": config.get("Issuer", ""), "client_id": (config.get("Audience") or [""])[0],
                 "scope": " ".join(scopes), "token_use": "access"}
        token.update(claims or {})
        return {k: str(v) for k, v in token.items()}

    def match(self, method, path):
        for route in self.routes:
            found = route["regex"].match(path)
            if found and route["method"] == method:
                return route, found.groupdict()
        return None, None

    def allowed(self, route, path):
        """Whether the function's resource policy lets this API invoke it for `path`."""
        function = route["function"]
        if function.name not in self.policies:
            policy = self.stack.moto.client("lambda").get_policy(FunctionName=function.name)["Policy"]
            self.policies[function.name] = json.loads(policy)["Statement"]
        source = (f"arn:aws:execute-api:{self.stack.region}:{self.stack.account}:{self.api_id}/"
                  f"{self.stage}/{route['method']}{path}")
        for statement in self.policies[function.name]:
            principal = statement.get("Principal", {})
            service = principal.get("Service") if isinstance(principal, dict) else principal
            condition = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "*")
            if (statement.get("Effect") == "Allow" and service == "apigateway.amazonaws.com"
                    and statement.get("Action") in ("lambda:InvokeFunction", ["lambda:InvokeFunction"])
                    and fnmatch.fnmatchcase(source, condition)):
                return True
        return False

    def request(self, method, path, body=None, signed=True, claims=None):
        """Returns (status, parsed JSON body). `signed=False` sends no credentials."""
        route, parameters = self.match(method, path)
        if route is None:
            return 404, {"message": "Not Found"}
        if route["auth"] == "AWS_IAM" and not signed:
            return 403, {"message": "Forbidden"}
        token = None
        if route["auth"] == "JWT":
            if not signed:
                return 401, {"message": "Unauthorized"}
            token = self.token(route, claims)
            if route["scopes"] and not set(route["scopes"]) & set(token.get("scope", "").split()):
                return 403, {"message": "Forbidden"}
        if not self.allowed(route, path):
            raise AssertionError(
                f"{route['function'].logical} has no permission for API Gateway to invoke it from "
                f"{route['key']} (AWS::Lambda::Permission with SourceArn on this API and route)"
            )
        kind, payload = route["function"].invoke(self.event(route, method, path, parameters, body, token))
        if kind != "response":
            return 500, {"message": "Internal Server Error", "function": f"{kind}: {payload[:500]}"}
        answer = json.loads(payload)
        text = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            text = base64.b64decode(text).decode()
        return int(answer.get("statusCode", 200)), json.loads(text) if text else None

    def event(self, route, method, path, parameters, body, token):
        now = datetime.datetime.now(datetime.timezone.utc)
        domain = f"{self.api_id}.execute-api.{self.stack.region}.amazonaws.com"
        text = json.dumps(body) if body is not None else None
        context = {
            "accountId": self.stack.account, "apiId": self.api_id, "domainName": domain,
            "domainPrefix": self.api_id,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                     "userAgent": "deploy-test"},
            "requestId": uuid.uuid4().hex[:16], "routeKey": route["key"], "stage": self.stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
        }
        if token is not None:
            context["authorizer"] = {"jwt": {"claims": token, "scopes": token.get("scope", "").split()}}
        elif route["auth"] == "AWS_IAM":
            context["authorizer"] = {"iam": {
                "accessKey": "AKIAIOSFODNN7EXAMPLE", "accountId": self.stack.account, "callerId": "AIDACKCEVSQ6C2EXAMPLE",
                "principalOrgId": None, "userArn": f"arn:aws:iam::{self.stack.account}:user/deploy-test",
                "userId": "AIDACKCEVSQ6C2EXAMPLE", "cognitoIdentity": None,
            }}
        event = {
            "version": "2.0", "routeKey": route["key"], "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/json", "host": domain},
            "requestContext": context, "isBase64Encoded": False,
        }
        if parameters:
            event["pathParameters"] = parameters
        if text is not None:
            event["body"] = text
        return event
