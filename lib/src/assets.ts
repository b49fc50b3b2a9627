/**
 * Files that ship inside the package (`lib/assets/`): the tiny GPT-2 checkpoint and a copy of the SMS Spam
 * Collection. Smoke mode and the tests read them, so both work offline with nothing beside the package.
 */
import * as path from "node:path";

/** The package's `assets/` folder (this file compiles to `dist/assets.js`). */
export const ASSETS_DIR = path.resolve(__dirname, "..", "assets");

/** Folder of the tiny GPT-2 checkpoint in OpenAI's layout, as size "124M" (`<dir>/124M/model.ckpt.*`). */
export const TINY_GPT2_DIR = path.join(ASSETS_DIR, "gpt2-tiny");

/** The SMS Spam Collection zip (CC BY 4.0; source and citation in `assets/sms-spam-collection/README.md`). */
export const SMS_SPAM_ZIP = path.join(ASSETS_DIR, "sms-spam-collection", "sms_spam_collection.zip");

/**
 * A synthetic `aclImdb_v1.tar.gz` (40 made-up reviews in the real archive's layout, written by
 * scripts/fixtures/imdb_reference.py): smoke mode's and the tests' stand-in for the 80 MB IMDb archive.
 */
export const IMDB_SYNTHETIC_TAR = path.join(ASSETS_DIR, "imdb-synthetic", "aclImdb_v1.tar.gz");

/**
 * A tiny BERT in bert-base-uncased's layout (config.json, model.safetensors without a classifier head, vocab.txt
 * covering the synthetic IMDb reviews; 2 layers of width 32, random weights; written by
 * scripts/fixtures/tiny_bert_asset.py): smoke mode's and the notebooks' stand-in for bert-base-uncased.
 */
export const TINY_BERT_DIR = path.join(ASSETS_DIR, "bert-tiny");
