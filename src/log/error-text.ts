// The one way an error becomes text in a log line, a GET document or a reply.
export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
