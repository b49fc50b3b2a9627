// Filled by the chapter's issue; re-exports this folder's modules.
export {};
