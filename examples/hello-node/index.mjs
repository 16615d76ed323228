// A hello-world function for the nodejs20 runtime (an ES module with an async handler).
// Called directly it reads {"name": ...}; over an HTTP route it gets an API Gateway 2.0 event
// and reads ?name= or a JSON body.
const nameOf = (event) => {
  if (!event || typeof event !== "object") return "world";
  if (event.requestContext) {
    let body = {};
    try { body = JSON.parse(event.body || "{}"); } catch { body = {}; }
    return event.queryStringParameters?.name ?? body?.name ?? "world";
  }
  return event.name ?? "world";
};

export const handler = async (event, context) => {
  const name = nameOf(event);
  console.log(`saying hello to ${name}`);
  return {
    message: `Hello, ${name}!`,
    requestId: context.awsRequestId,
    function: context.functionName,
    remainingMs: context.getRemainingTimeInMillis(),
  };
};
