"""A hello-world function for the python3.11 runtime."""
import json


def handler(event, context):
    name = (event or {}).get("name", "world") if isinstance(event, dict) else "world"
    print(f"saying hello to {name}")
    return {
        "message": f"Hello, {name}!",
        "requestId": context.aws_request_id,
        "function": context.function_name,
        "remainingMs": context.get_remaining_time_in_millis(),
    }
