// The part of Deno's global that function modules imported by Node tests name (tsc only; at run time
// the tests call the handlers themselves and never reach Deno.serve).
declare namespace Deno {
  function serve(handler: (req: Request) => Response | Promise<Response>): unknown;
  const env: { get(name: string): string | undefined; toObject(): Record<string, string> };
}
