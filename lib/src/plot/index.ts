// Section 6.7: loss and accuracy plots (Plotly figures; inline HTML for tslab, standalone HTML, PNG).
export * from "./plotValues";
export * from "./render";
