// Code fields (a flow's YAML, task variables): a gutter with line numbers beside the textarea, kept in step
// while typing and scrolling, and the line an error names ("line 12: ...") marked in it.
(function () {
  function enhance(area) {
    const wrap = document.createElement('div');
    wrap.className = 'code-editor';
    const gutter = document.createElement('pre');
    gutter.className = 'gutter';
    gutter.setAttribute('aria-hidden', 'true');
    area.parentNode.insertBefore(wrap, area);
    wrap.appendChild(gutter);
    wrap.appendChild(area);
    let errorLine = null;
    const field = area.closest('p');
    const error = field && field.querySelector('.error');
    const match = error && /line (\d+)/.exec(error.textContent);
    if (match) errorLine = parseInt(match[1], 10);
    function render() {
      const count = area.value.split('\n').length;
      let html = '';
      for (let n = 1; n <= count; n++) {
        html += n === errorLine ? '<span class="bad-line">' + n + '</span>\n' : n + '\n';
      }
      gutter.innerHTML = html;
      gutter.scrollTop = area.scrollTop;
    }
    area.addEventListener('input', render);
    area.addEventListener('scroll', function () { gutter.scrollTop = area.scrollTop; });
    area.addEventListener('keydown', function (event) {  // Tab indents (YAML wants spaces)
      if (event.key !== 'Tab') return;
      event.preventDefault();
      const start = area.selectionStart;
      area.setRangeText('  ', start, area.selectionEnd, 'end');
      render();
    });
    render();
    if (errorLine) {
      const lines = area.value.split('\n');
      const offset = lines.slice(0, errorLine - 1).join('\n').length + (errorLine > 1 ? 1 : 0);
      area.focus();
      area.setSelectionRange(offset, offset + (lines[errorLine - 1] || '').length);
    }
  }
  document.querySelectorAll('textarea.code').forEach(enhance);
})();
