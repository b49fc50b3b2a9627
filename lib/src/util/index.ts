// Helpers under the chapter's functions: atomic file writes, downloads with retries and backup URLs,
// progress bars (terminal and tslab), a local static file server (smoke mode's downloads).
export * from "./atomic";
export * from "./download";
export * from "./progress";
export * from "./staticServer";
