"""Checks of the deployed stack's wiring that moto does not enforce, each failure naming
the resource:

- every topic, queue or table variable in a function's environment names the stack
  resource its name says (`ORDER_EVENTS_TOPIC_ARN` is OrderEventsTopic's ARN,
  `NOTIFICATIONS_QUEUE_URL` NotificationsQueue's URL, `TABLE_NAME` the table: the
  template's convention, `Topic.env = !Ref Topic.logical_id`), and a function allowed to
  publish or send to a topic or queue has that resource's variable;
- every queue an event source mapping consumes has a redrive policy to a dead-letter
  queue of the stack, and a visibility timeout no shorter than its consumer's timeout
  (Lambda refuses to create the mapping otherwise);
- every SQS subscription's queue has a policy letting SNS send to it from that topic
  (without one SNS cannot deliver on AWS; moto delivers anyway).
"""

import fnmatch
import json
import re

from iam_check import RolePolicies, as_list

SUFFIXES = {"_TOPIC_ARN": ("AWS::SNS::Topic", "Topic"), "_QUEUE_URL": ("AWS::SQS::Queue", "Queue")}


def pascal(screaming):
    return "".join(part.capitalize() for part in screaming.lower().split("_"))


def check(stack, configurations, mappings):
    problems = []
    problems += environments(stack, configurations)
    problems += consumed_queues(stack, configurations, mappings)
    problems += subscriptions(stack)
    return problems


def environments(stack, configurations):
    problems = []
    tables = stack.of_type("AWS::DynamoDB::Table")
    for logical, config in sorted(configurations.items()):
        env = config.get("Environment", {}).get("Variables", {})
        if "TABLE_NAME" in env and env["TABLE_NAME"] not in {stack.physical_id(t) for t in tables}:
            problems.append(f"{logical}: TABLE_NAME is {env['TABLE_NAME']!r}, not a table of the stack")
        for name, value in sorted(env.items()):
            for suffix, (kind, ending) in SUFFIXES.items():
                if not name.endswith(suffix):
                    continue
                expected = pascal(name[: -len(suffix)]) + ending
                resources = stack.of_type(kind)
                owner = next((r for r in resources if stack.physical_id(r) == value), None)
                if expected not in resources:
                    problems.append(f"{logical}: {name} names no {kind} of the stack (no {expected}); "
                                    f"its value is {owner or value!r}")
                elif stack.physical_id(expected) != value:
                    problems.append(f"{logical}: {name} is {owner or value!r}, not {expected}")
        problems += needed_variables(stack, logical, env)
    return problems


def needed_variables(stack, logical, env):
    """A topic the role may publish to, or a queue it may send to, needs its variable."""
    problems = []
    inline = [s for s in RolePolicies(stack, logical).statements
              if s.effect == "Allow" and not s.policy.endswith("SQSPolicy")]
    for kind, action, suffix, ending in (("AWS::SNS::Topic", "sns:Publish", "_TOPIC_ARN", "Topic"),
                                         ("AWS::SQS::Queue", "sqs:SendMessage", "_QUEUE_URL", "Queue")):
        for resource in stack.of_type(kind):
            arn = stack.attribute(resource, "TopicArn" if kind == "AWS::SNS::Topic" else "Arn")
            if not any(s.applies(action, arn) for s in inline):
                continue
            variable = re.sub(r"(?<!^)(?=[A-Z])", "_", resource[: -len(ending)]).upper() + suffix
            if env.get(variable) != stack.physical_id(resource):
                problems.append(f"{logical}: may {action} to {resource} but {variable} is "
                                f"{env.get(variable, 'not set')!r}, not {resource}'s")
    return problems


def consumed_queues(stack, configurations, mappings):
    problems = []
    sqs = stack.moto.client("sqs")
    queues = {stack.attribute(q, "Arn"): q for q in stack.of_type("AWS::SQS::Queue")}
    functions = {c["FunctionArn"]: logical for logical, c in configurations.items()}
    for mapping_logical, mapping in sorted(mappings.items()):
        queue = queues.get(mapping["EventSourceArn"])
        if queue is None:
            continue
        consumer = functions[mapping["FunctionArn"]]
        attributes = sqs.get_queue_attributes(QueueUrl=stack.physical_id(queue), AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes.get("RedrivePolicy", "null"))
        where = f"{queue} (consumed by {consumer} through {mapping_logical})"
        if not redrive:
            problems.append(f"{where} has no RedrivePolicy: a message that keeps failing is retried forever")
        elif redrive.get("deadLetterTargetArn") not in queues:
            problems.append(f"{where}: its RedrivePolicy's dead-letter queue is not a queue of the stack")
        timeout = configurations[consumer].get("Timeout", 3)
        if int(attributes.get("VisibilityTimeout", 30)) < timeout:
            problems.append(f"{where}: VisibilityTimeout {attributes.get('VisibilityTimeout')} s is shorter than "
                            f"{consumer}'s timeout of {timeout} s")
    return problems


def subscriptions(stack):
    problems = []
    sqs = stack.moto.client("sqs")
    queues = {stack.attribute(q, "Arn"): q for q in stack.of_type("AWS::SQS::Queue")}
    for logical, resource in sorted(stack.of_type("AWS::SNS::Subscription").items()):
        props = stack.resolve(resource["Properties"])
        if props.get("Protocol") != "sqs":
            continue
        queue = queues.get(props["Endpoint"])
        if queue is None:
            continue
        policy = sqs.get_queue_attributes(QueueUrl=stack.physical_id(queue), AttributeNames=["Policy"])
        document = json.loads(policy.get("Attributes", {}).get("Policy", '{"Statement": []}'))
        if not any(lets_sns_send(s, props["Endpoint"], props["TopicArn"]) for s in as_list(document["Statement"])):
            problems.append(f"{logical}: {queue}'s policy does not let SNS send to it from {props['TopicArn']} "
                            f"(AWS::SQS::QueuePolicy)")
    return problems


def lets_sns_send(statement, queue_arn, topic_arn):
    principal = statement.get("Principal", {})
    services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else [principal]
    if statement.get("Effect") != "Allow" or not ({"sns.amazonaws.com", "*"} & set(services)):
        return False
    if not any(fnmatch.fnmatchcase("sqs:sendmessage", a.lower()) for a in as_list(statement.get("Action", []))):
        return False
    if not any(fnmatch.fnmatchcase(queue_arn, r) for r in as_list(statement.get("Resource", "*"))):
        return False
    conditions = statement.get("Condition", {})
    for operator in ("ArnEquals", "ArnLike"):
        source = conditions.get(operator, {}).get("aws:SourceArn")
        if source is not None and not any(fnmatch.fnmatchcase(topic_arn, s) for s in as_list(source)):
            return False
    return True
