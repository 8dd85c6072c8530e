// The board scrolls sideways when its columns do not fit; this makes that visible.
// The frame gets data-more="left|right|both" (app.css fades those edges) and a
// "More columns →" button shows while columns hide to the right. The button is for
// the mouse: it is left out of the Tab order and the accessibility tree, because
// keyboard focus scrolls each card into view by itself.

export function scrollHints(frame) {
  const board = frame.querySelector('.board');
  const more = frame.querySelector('.board-more');
  const update = () => {
    const max = board.scrollWidth - board.clientWidth;
    const left = board.scrollLeft > 1;
    const right = board.scrollLeft < max - 1;
    frame.dataset.more = left && right ? 'both' : left ? 'left' : right ? 'right' : '';
    more.hidden = !right;
  };
  // About a screen at a time, less one column, so the last column seen stays in sight.
  more.addEventListener('click', () => board.scrollBy({ left: Math.max(board.clientWidth - 280, 200), behavior: 'smooth' }));
  board.addEventListener('scroll', update, { passive: true });
  const resized = new ResizeObserver(update);
  resized.observe(board);
  update();
  return () => resized.disconnect();
}
