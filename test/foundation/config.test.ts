import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  getSettings,
  parseFlag,
  ConfigError,
  SMS_SPAM_URL,
  SMS_SPAM_BACKUP_URL,
  GPT2_BASE_URL,
  GPT2_BACKUP_BASE_URL,
} from "llm-spam-classifier";

test("defaults: the book's primary and backup URLs, the project's data folder, no smoke", () => {
  const s = getSettings({}, {});
  assert.deepEqual(s.smsSpamUrls, [SMS_SPAM_URL, SMS_SPAM_BACKUP_URL]);
  assert.deepEqual(s.gpt2BaseUrls, [GPT2_BASE_URL, GPT2_BACKUP_BASE_URL]);
  assert.equal(s.dataDir, path.resolve(__dirname, "..", "..", "data"));
  assert.equal(s.smoke, false);
  assert.equal(s.backend, undefined);
});

test("environment variables are honoured; a user URL is used alone (no silent internet fallback)", () => {
  const s = getSettings(
    {},
    {
      LLM_DATA_DIR: "/tmp/x",
      SMS_SPAM_URL: "http://127.0.0.1:1/a.zip",
      GPT2_BASE_URL: "http://127.0.0.1:1/gpt2/",
      TFJS_BACKEND: "cpu",
      LLM_SMOKE: "1",
    },
  );
  assert.equal(s.dataDir, "/tmp/x");
  assert.deepEqual(s.smsSpamUrls, ["http://127.0.0.1:1/a.zip"]);
  assert.deepEqual(s.gpt2BaseUrls, ["http://127.0.0.1:1/gpt2"]);
  assert.equal(s.backend, "cpu");
  assert.equal(s.smoke, true);
});

test("CLI overrides win over the environment", () => {
  const s = getSettings(
    { dataDir: "/tmp/y", smoke: false, backend: "wasm", smsSpamUrl: "z.zip" },
    { LLM_DATA_DIR: "/tmp/x", LLM_SMOKE: "1", TFJS_BACKEND: "cpu" },
  );
  assert.equal(s.dataDir, "/tmp/y");
  assert.equal(s.smoke, false);
  assert.equal(s.backend, "wasm");
  assert.deepEqual(s.smsSpamUrls, ["z.zip"]);
});

test("flags accept yes/no spellings and refuse anything else", () => {
  for (const v of ["1", "true", "YES", "on"]) assert.equal(parseFlag("LLM_SMOKE", v), true);
  for (const v of ["0", "false", "no", "off", "", undefined]) assert.equal(parseFlag("LLM_SMOKE", v), false);
  assert.throws(
    () => getSettings({}, { LLM_SMOKE: "maybe" }),
    (e: unknown) => e instanceof ConfigError && /LLM_SMOKE=maybe is not a yes\/no value/.test(e.message),
  );
});
