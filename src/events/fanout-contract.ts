/**
 * One message of the FANOUT queue: a page of a large broadcast's fan-out. It only points at the page; what the page
 * holds (its accounts and webhooks) is in the main database's fanout_pages, written with the broadcast's record.
 */
export interface FanoutMessage {
  event_id: string;
  page: number;
}
