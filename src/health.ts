/** Whether a part of the gateway can do its job now, and if not, why (shown by /readyz). */
export interface Health {
  readonly ready: boolean;
  readonly reason?: string;
}

export interface ReadinessCheck {
  readonly name: string;
  check(): Health;
}
