// A hello-world function for the nodejs20 runtime (an ES module with an async handler).
export const handler = async (event, context) => {
  const name = event?.name ?? "world";
  console.log(`saying hello to ${name}`);
  return {
    message: `Hello, ${name}!`,
    requestId: context.awsRequestId,
    function: context.functionName,
    remainingMs: context.getRemainingTimeInMillis(),
  };
};
