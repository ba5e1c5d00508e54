/**
 * Who a conversation and its spending belong to: an anonymous visitor (an id the widget keeps) or
 * an identified user (the `sub` of a user token the website signed). Shared by chat and budgets.
 */
export interface Owner {
  kind: 'visitor' | 'user';
  id: string;
}
