import { relayStylePagination } from '@apollo/client/utilities';

// relayStylePagination reads an empty page's cursors as "": keep the server's null.
function cursorPages() {
  const pages = relayStylePagination();
  return { ...pages, read(existing, options) {
    const page = pages.read(existing, options);
    return page && { ...page, pageInfo: { ...page.pageInfo,
      startCursor: page.pageInfo.startCursor || null, endCursor: page.pageInfo.endCursor || null } };
  } };
}

export const typePolicies = {
  // A board has no id: it lives under Query.board(filter); its columns and cards are normalized.
  Board: { merge: true },
  BoardColumn: {
    fields: {
      opportunities: cursorPages(), // a first page replaces, `after` pages append
      totals: { merge: false }, // one Money per currency: the newest list wins
    },
  },
  BoardEvent: { keyFields: ['seq'] },
};
