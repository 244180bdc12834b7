// Sortable tables: a click on a header of a <table class="sortable" id=...> sorts its rows by
// that column (a cell's data-sort if it has one, else its text; numbers as numbers), a second
// click the other way. A row of class "attached" stays under the row before it. The order is
// kept for the tab (sessionStorage) and applied again after a live refresh replaces the table.
"use strict";

(function () {
  const KEY = "daybreak-sort:" + location.pathname;

  function saved() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "{}");
    } catch (error) {
      return {};
    }
  }

  function valueOf(row, column) {
    const cell = row.cells[column];
    if (!cell) return "";
    const text = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    const number = Number(text.replace(/,/g, ""));
    return text !== "" && !Number.isNaN(number) ? number : text.toLowerCase();
  }

  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    if (typeof a === "number") return -1;
    if (typeof b === "number") return 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }

  function sortTable(table, column, descending) {
    const header = table.rows[0];
    const groups = [];
    for (const row of Array.from(table.rows).slice(1)) {
      if (row.classList.contains("attached") && groups.length) groups[groups.length - 1].push(row);
      else groups.push([row]);
    }
    groups.sort((x, y) => {
      const order = compare(valueOf(x[0], column), valueOf(y[0], column));
      return descending ? -order : order;
    });
    const parent = header.parentNode;
    for (const group of groups) for (const row of group) parent.appendChild(row);
    Array.from(header.cells).forEach((cell, index) => {
      if (index === column) cell.setAttribute("aria-sort", descending ? "descending" : "ascending");
      else cell.removeAttribute("aria-sort");
    });
  }

  function prepare(root) {
    const orders = saved();
    for (const table of root.querySelectorAll("table.sortable[id]")) {
      const header = table.rows[0];
      if (!header) continue;
      Array.from(header.cells).forEach((cell, column) => {
        cell.classList.add("sorter");
        cell.title = cell.title || "sort by " + cell.textContent.trim();
        cell.addEventListener("click", () => {
          const before = saved()[table.id];
          const descending = Boolean(before && before.column === column && !before.descending);
          const now = saved();
          now[table.id] = { column, descending };
          sessionStorage.setItem(KEY, JSON.stringify(now));
          sortTable(table, column, descending);
        });
      });
      const order = orders[table.id];
      if (order) sortTable(table, order.column, order.descending);
    }
  }

  prepare(document);
  document.addEventListener("daybreak:refreshed", (event) => prepare(event.target));
})();
