"""A hello-world function for the python3.11 runtime.

Called directly (Invoke API, `wisp invoke`) it reads {"name": ...} from the event; called over
an HTTP route it gets an API Gateway 2.0 event and reads ?name= or a JSON body.
"""
import json


def _name(event):
    if not isinstance(event, dict):
        return "world"
    if "requestContext" in event:  # an HTTP request
        query = event.get("queryStringParameters") or {}
        try:
            body = json.loads(event.get("body") or "{}")
        except ValueError:
            body = {}
        return query.get("name") or (body.get("name") if isinstance(body, dict) else None) or "world"
    return event.get("name", "world")


def handler(event, context):
    name = _name(event)
    print(f"saying hello to {name}")
    return {
        "message": f"Hello, {name}!",
        "requestId": context.aws_request_id,
        "function": context.function_name,
        "remainingMs": context.get_remaining_time_in_millis(),
    }
