/** The event types SPEC "Events" lists, written out independently of the catalog so tests can check it against them. */
export const SPEC_EVENT_TYPES = [
  "workflow.started",
  "workflow.completed",
  "workflow.failed",
  "workflow.timeout",
  "workflow.cancelled",
  "component.started",
  "component.completed",
  "component.failed",
  "component.timeout",
  "user.message.received",
  "user.session.started",
  "user.session.ended",
  "api.quota.warning",
  "api.quota.exceeded",
  "system.maintenance",
] as const;
