// Sections 6.2–6.3: the SMS Spam Collection, its pandas-exact split, dataset and loaders; the IMDb reviews (bonus).
export * from "./random";
export * from "./tsv";
export * from "./csv";
export * from "./balance";
export * from "./download";
export * from "./prepare";
export * from "./tarGz";
export * from "./imdb";
export * from "./spamDataset";
export * from "./dataLoader";
export { IMDB_SYNTHETIC_TAR } from "../assets";
