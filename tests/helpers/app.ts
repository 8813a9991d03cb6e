// The app as the user-facing functions' callers are: scripts/lib/app.ts (the demo uses it too).
export * from "../../scripts/lib/app.ts";
