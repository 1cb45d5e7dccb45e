// Calls the emulator with the unmodified AWS SDK for JavaScript v3 and prints one JSON report.
// The endpoint comes from AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, as a user would point it.
import {
  SageMakerRuntimeClient,
  InvokeEndpointCommand,
  InvokeEndpointWithResponseStreamCommand,
} from "@aws-sdk/client-sagemaker-runtime";

const client = new SageMakerRuntimeClient({
  region: "us-east-1",
  credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
});
const endpoint = process.argv[2] ?? "demo";
const request = {
  messages: [{ role: "user", content: "Say hello." }],
  max_tokens: 6,
};
const report = {};

const plain = await client.send(
  new InvokeEndpointCommand({ EndpointName: endpoint, Body: JSON.stringify(request) }),
);
report.completion = JSON.parse(new TextDecoder().decode(plain.Body));

const streamed = await client.send(
  new InvokeEndpointWithResponseStreamCommand({
    EndpointName: endpoint,
    Body: JSON.stringify({ ...request, stream: true }),
  }),
);
report.contentType = streamed.ContentType;
// As the provider does: every payload part is parsed alone with JSON.parse.
report.chunks = [];
for await (const event of streamed.Body) {
  if (event.PayloadPart) {
    report.chunks.push(JSON.parse(new TextDecoder().decode(event.PayloadPart.Bytes)));
  }
}

const errors = {};
for (const [label, name, body] of [
  ["unknown", "nope", JSON.stringify(request)],
  ["model", endpoint, JSON.stringify({ ...request, temperature: 5 })],
]) {
  try {
    await client.send(new InvokeEndpointCommand({ EndpointName: name, Body: body }));
    errors[label] = null;
  } catch (error) {
    errors[label] = {
      name: error.name,
      status: error.$metadata?.httpStatusCode,
      OriginalStatusCode: error.OriginalStatusCode,
      OriginalMessage: error.OriginalMessage,
    };
  }
}
report.errors = errors;
console.log(JSON.stringify(report));
