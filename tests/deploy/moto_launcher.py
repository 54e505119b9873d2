"""moto_server, with one change: a disabled DynamoDB stream event source mapping stays
disabled.

moto honours `Enabled: false` on an SQS event source mapping but not on a DynamoDB
stream one: on every write to the table it hands the stream's records to the mapped
function (in Docker, which fails here) and, when that returns anything, drops them from
the stream. The deployment test disables every mapping the stack created and plays the
pollers itself, so it needs the records left in the stream for it to read.

Usage: python moto_launcher.py -H 127.0.0.1 -p PORT (moto_server's own arguments).
"""

import sys

from moto.awslambda.models import LambdaBackend
from moto.server import main

_send_dynamodb_items = LambdaBackend.send_dynamodb_items


def _send_unless_disabled(self, function_arn, items, source):
    for esm in self._event_source_mappings.values():
        if esm.function_arn == function_arn and esm.event_source_arn == source and not esm.enabled:
            return ""  # falsy: the stream keeps its records
    return _send_dynamodb_items(self, function_arn, items, source)


LambdaBackend.send_dynamodb_items = _send_unless_disabled

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
