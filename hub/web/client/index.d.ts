// The public API of @livehub/client (hand-written; the wire types in protocol.d.ts are
// generated from hub/protocol.py). See docs/client.md.
import type {
  Alert, ChatItem, ErrorCodeTable, CloseCodeTable, KaraokeState, Member, MethodName,
  MethodParams, MethodResults, QueueState, RequestItem, StreamPosition,
} from "./protocol";

export * from "./protocol";

export type HubState = "disconnected" | "connecting" | "connected" | "closed";
export type RoomState = "unsubscribed" | "subscribing" | "subscribed";

export interface LiveHubOptions {
  /** ws(s)://host/ws; default: the page's origin + /ws */
  url?: string;
  /** a hub JWT */
  token?: string;
  /** an overlay secret (connects /ws?overlay=...; no refresh) */
  overlay?: string;
  /** a fresh token: called ahead of exp (sent in-band as `refresh`) and after close 4002 */
  getToken?: () => Promise<string> | string;
  /** refresh in-band before exp (default true); false: renew only after 4002 */
  refreshBeforeExp?: boolean;
  /** give up on a connection that gets no `welcome` within this (10000 ms) */
  connectTimeoutMs?: number;
  /** after this much silence, ping; no answer within connectTimeoutMs: reconnect (25000; 0: off) */
  heartbeatMs?: number;
  /** a WebSocket implementation (Node); default globalThis.WebSocket */
  WebSocket?: typeof WebSocket;
  /** reconnect backoff base, ms (500) */
  minDelayMs?: number;
  /** reconnect backoff cap, ms (15000) */
  maxDelayMs?: number;
  /** the jitter's random source, [0, 1) (tests) */
  random?: () => number;
}

export interface StateChange {
  state: HubState;
  previous: HubState;
  code?: number;
  reason?: string;
  retryInMs?: number;
  /** readable by a person: "Reconnecting in 3 s…", "This overlay link was replaced…" */
  message?: string;
}

export interface HubEvents {
  state: StateChange;
  roles: { roles: string[] };
  error: HubError;
  closed: { code: number; message: string };
}

type Unsubscribe = () => void;

export class LiveHub {
  constructor(opts?: LiveHubOptions);
  readonly url: string;
  readonly state: HubState;
  readonly roles: string[];
  readonly claims: Record<string, unknown>;
  readonly rooms: Map<string, Room>;
  on<K extends keyof HubEvents>(name: K, fn: (payload: HubEvents[K]) => void): Unsubscribe;
  off<K extends keyof HubEvents>(name: K, fn: (payload: HubEvents[K]) => void): void;
  connect(): void;
  close(): void;
  room(name: string, opts?: { presence?: boolean }): Room;
}

export type RequestsView = QueueState & { op?: string; request?: RequestItem };
export type KaraokeView = KaraokeState & { change?: string };
export interface TipsView {
  version: number;
  paid_cents: number;
  goal_cents: number | null;
  showing: Alert | null;
  /** waiting alerts, priority first then arrival */
  queue: Alert[];
}
export interface Presence { count: number; members: Member[] }
export interface ChatMessage { message_id: string; user: string; name: string; text: string; time: number }
export interface ChatPageView { messages: ChatItem[]; before: number | null }

export interface RoomEvents {
  subscribed: { recovered: boolean; wasRecovering: boolean };
  chat: ChatMessage;
  chat_removed: { message_id: string; by: string };
  chat_page: ChatPageView;
  requests: RequestsView;
  karaoke: KaraokeView;
  tips: TipsView;
  "tips.alert_show": Alert;
  "tips.alert_done": { alert_id: string; outcome: string };
  presence: Presence;
  viewers: { count: number };
  event_status: { status: string; livekit_room: string | null };
  sanction: { user: string; kind: string; until: number; by: string };
  chat_settings: { slow_mode_seconds: number };
  recording: Record<string, unknown>;
  snapshot: { service: string; state: unknown };
  message: unknown;
  error: HubError;
}

export class Room {
  readonly name: string;
  readonly state: RoomState;
  readonly position: StreamPosition | null;
  readonly requests: RequestsView | null;
  readonly karaoke: KaraokeView | null;
  readonly tips: TipsView | null;
  readonly chatSettings: { slow_mode_seconds: number } | null;
  readonly presence: Presence;
  on<K extends keyof RoomEvents>(name: K, fn: (payload: RoomEvents[K]) => void): Unsubscribe;
  off<K extends keyof RoomEvents>(name: K, fn: (payload: RoomEvents[K]) => void): void;
  call<M extends MethodName>(method: M, params?: MethodParams[M] | Record<string, unknown>): Promise<MethodResults[M]>;
  call(method: string, params?: unknown): Promise<any>;
  chat(text: string): Promise<{ message_id: string; status: string }>;
  history(opts?: { before?: number | null; limit?: number }): Promise<ChatPageView>;
  leave(): void;
}

export class HubError extends Error {
  /** the protocol code (error or close), or 0 for the client's own (closed, interrupted) */
  code: number;
  /** the code's name ("STALE_VERSION"), or the client's ("closed", "interrupted") */
  name: string;
  /** the hub's reason text (for logs; `message` is for people) */
  reason: string;
  /** 4412: the current state (the room applied it already) */
  state: unknown;
  /** trying again later may work */
  retryable: boolean;
}

/** A sentence a person can read for a code (no raw numbers). */
export function describe(code: number, reason?: string): string;
export const MESSAGES: Readonly<Record<number, string>>;
/** Exponential backoff with full jitter: random(0, min(max, base * 2^attempt)). */
export function backoffDelay(attempt: number, opts?: { minDelayMs?: number; maxDelayMs?: number; random?: () => number }): number;
export function readClaims(token: string): Record<string, any>;
export const ERROR_CODES: ErrorCodeTable;
export const CLOSE_CODES: CloseCodeTable;
export const PROTOCOL_VERSION: 1;
