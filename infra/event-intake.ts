import { Duration, aws_events as events, aws_events_targets as targets, aws_sqs as sqs } from "aws-cdk-lib";
import { Construct } from "constructs";

export interface EventIntakeProps {
  /** Name of the EventBridge bus the backend services put their events on. */
  readonly eventBusName: string;
  readonly eventPattern: events.EventPattern;
  /** Receives before a message that keeps failing moves to the dead-letter queue. */
  readonly maxReceiveCount: number;
}

/**
 * EventBridge rule -> SQS queue the gateway tasks poll. Any task may take any message: the gateway
 * fans it out through Redis, so one queue (not one per task) is enough.
 */
export class EventIntake extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: EventIntakeProps) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, "DeadLetters", {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    this.queue = new sqs.Queue(this, "Queue", {
      // Live events lose their worth quickly; a day covers an outage of every task.
      retentionPeriod: Duration.days(1),
      visibilityTimeout: Duration.seconds(30),
      receiveMessageWaitTime: Duration.seconds(20),
      // SQS-managed keys need no KMS key policy for events.amazonaws.com, unlike a customer key.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
    const rule = new events.Rule(this, "ToGateway", {
      description: "Events for browsers, handed to the SSE gateway",
      eventBus: events.EventBus.fromEventBusName(this, "Bus", props.eventBusName),
      eventPattern: props.eventPattern,
    });
    // The target grants events.amazonaws.com SendMessage on the condition aws:SourceArn = this rule.
    rule.addTarget(new targets.SqsQueue(this.queue));
  }
}
