import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Stand-ins for the two parts of AWS the target health watcher talks to, which cannot run here:
 * the Elastic Load Balancing v2 API (its real wire protocol, AWS Query over HTTP POST with
 * SigV4-signed form bodies and XML answers, so that the real AWS SDK client is what is tested)
 * and the ECS task metadata endpoint v4.
 */

export type TargetState = "initial" | "healthy" | "unhealthy" | "unused" | "draining" | "unavailable";

export interface ElbStandIn {
  /** For AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2, which the SDK reads by itself. */
  readonly url: string;
  readonly targetGroupArn: string;
  /** DescribeTargetHealth calls answered, including failed ones. */
  readonly calls: () => number;
  setState(target: string, state: TargetState): void;
  /** The next `count` calls fail this way ("other-target": a 200 that describes another target, draining; "garbage": a 200 that is not XML). */
  failNext(count: number, failure: "throttling" | "internal" | "access-denied" | "hang-up" | "other-target" | "garbage"): void;
  close(): Promise<void>;
}

const API_VERSION = "2015-12-01";
const XMLNS = `http://elasticloadbalancing.amazonaws.com/doc/${API_VERSION}/`;
const REASONS: Partial<Record<TargetState, [string, string]>> = {
  draining: ["Target.DeregistrationInProgress", "Target deregistration is in progress"],
  unused: ["Target.NotRegistered", "Target is not registered to the target group"],
  initial: ["Elb.RegistrationInProgress", "Target registration is in progress"],
};

/** One target group; targets are "ip:port" and unknown until setState names them. */
export async function startElbStandIn(targetGroupArn: string): Promise<ElbStandIn> {
  const states = new Map<string, TargetState>();
  const failures: string[] = [];
  let calls = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      calls++;
      const failure = failures.shift();
      if (failure === "hang-up") return void response.destroy();
      if (failure === "throttling") return void answerError(response, 400, "Throttling", "Rate exceeded");
      if (failure === "internal") return void answerError(response, 500, "HealthUnavailable", "The health of the specified targets could not be retrieved due to an internal error.");
      if (failure === "garbage") return void response.writeHead(200, { "content-type": "text/xml" }).end("<<not xml");
      if (failure === "other-target") return void answerDescriptions(response, [targetXml("10.9.9.9", "1", "draining")]);
      if (failure === "access-denied") return void answerError(response, 403, "AccessDenied", "User is not authorized to perform: elasticloadbalancing:DescribeTargetHealth");
      answer(request, Buffer.concat(chunks).toString(), response);
    });
  });

  function answer(request: http.IncomingMessage, body: string, response: http.ServerResponse): void {
    const authorization = request.headers.authorization ?? "";
    if (request.method !== "POST" || !/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/elasticloadbalancing\/aws4_request/.test(authorization)) {
      return answerError(response, 403, "MissingAuthenticationToken", "Request is missing a SigV4 signature for elasticloadbalancing");
    }
    const form = new URLSearchParams(body);
    if (form.get("Action") !== "DescribeTargetHealth" || form.get("Version") !== API_VERSION) {
      return answerError(response, 400, "InvalidAction", `Unsupported action ${form.get("Action")} ${form.get("Version")}`);
    }
    if (form.get("TargetGroupArn") !== targetGroupArn) {
      return answerError(response, 400, "TargetGroupNotFound", `Target groups '${form.get("TargetGroupArn")}' not found`);
    }
    const members: string[] = [];
    for (let n = 1; form.has(`Targets.member.${n}.Id`); n++) {
      const id = form.get(`Targets.member.${n}.Id`)!;
      const port = form.get(`Targets.member.${n}.Port`) ?? "";
      members.push(targetXml(id, port, states.get(`${id}:${port}`) ?? "unused"));
    }
    answerDescriptions(response, members);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    targetGroupArn,
    calls: () => calls,
    setState: (target, state) => void states.set(target, state),
    failNext(count, failure) {
      for (let i = 0; i < count; i++) failures.push(failure);
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function targetXml(id: string, port: string, state: TargetState): string {
  const reason = REASONS[state];
  const health = `<State>${state}</State>${reason ? `<Reason>${reason[0]}</Reason><Description>${reason[1]}</Description>` : ""}`;
  return `<member><HealthCheckPort>${port}</HealthCheckPort><TargetHealth>${health}</TargetHealth><Target><Port>${port}</Port><Id>${id}</Id></Target></member>`;
}

function answerDescriptions(response: http.ServerResponse, members: readonly string[]): void {
  response.writeHead(200, { "content-type": "text/xml" }).end(
    `<DescribeTargetHealthResponse xmlns="${XMLNS}"><DescribeTargetHealthResult><TargetHealthDescriptions>${members.join("")}</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`,
  );
}

function answerError(response: http.ServerResponse, status: number, code: string, message: string): void {
  const type = status >= 500 ? "Receiver" : "Sender";
  response.writeHead(status, { "content-type": "text/xml" }).end(
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId()}</RequestId></ErrorResponse>`,
  );
}

const requestId = () => crypto.randomUUID();

export interface TaskMetadataStandIn {
  /** For ECS_CONTAINER_METADATA_URI_V4. */
  readonly uri: string;
  close(): Promise<void>;
}

/**
 * Answers `${ECS_CONTAINER_METADATA_URI_V4}` with container metadata shaped as on Fargate (awsvpc);
 * without an address, as for a container without awsvpc networking.
 */
export async function startTaskMetadata(address?: string): Promise<TaskMetadataStandIn> {
  const id = crypto.randomUUID().replaceAll("-", "");
  const server = http.createServer((request, response) => {
    if (request.url !== `/v4/${id}`) return void response.writeHead(404).end("404 page not found\n");
    response.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        DockerId: id,
        Name: "gateway",
        DesiredStatus: "RUNNING",
        KnownStatus: "RUNNING",
        Networks: address === undefined ? [{ NetworkMode: "host" }] : [{ NetworkMode: "awsvpc", IPv4Addresses: [address], IPv4SubnetCIDRBlock: "127.0.0.0/8" }],
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    uri: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v4/${id}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
