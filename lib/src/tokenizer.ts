/**
 * GPT-2's byte-pair tokenizer (js-tiktoken's bundled `gpt2` ranks: no download), shared by the
 * data pipeline, generation and classification. Book: `tiktoken.get_encoding("gpt2")`, 6.3.
 */
import { getEncoding, type Tiktoken } from "js-tiktoken";

/** `<|endoftext|>`, the book's padding token. */
export const END_OF_TEXT = "<|endoftext|>";
/** Its id: `tokenizer.encode("<|endoftext|>", allowed_special={"<|endoftext|>"})` → `[50256]`. */
export const PAD_TOKEN_ID = 50256;

export type Tokenizer = Tiktoken;

let shared: Tiktoken | undefined;

/** The one GPT-2 tokenizer instance (loaded on first use, ~0.3 s). */
export function getTokenizer(): Tokenizer {
  shared ??= getEncoding("gpt2");
  return shared;
}

/** Encodes text to GPT-2 token ids. Like tiktoken, special-token text such as `<|endoftext|>` is refused unless allowed. */
export function textToTokenIds(
  text: string,
  tokenizer: Tokenizer = getTokenizer(),
  allowedSpecial: string[] = [END_OF_TEXT],
): number[] {
  return tokenizer.encode(text, allowedSpecial);
}

/** Decodes token ids to text. */
export function tokenIdsToText(ids: ArrayLike<number>, tokenizer: Tokenizer = getTokenizer()): string {
  return tokenizer.decode(Array.from(ids));
}
