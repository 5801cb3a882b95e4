//! Drawing: widgets that turn view models into cells, and the theme. Nothing here reads
//! a clock, takes a lock or does I/O.

pub mod ascii;
pub mod screen;
pub mod theme;

use ratatui::Frame;

use crate::view::ScreenVm;
pub use screen::Screen;
pub use theme::{Depth, Theme};

/// Draws a screen into a frame, placing the cursor while the filter is edited.
pub fn draw(frame: &mut Frame<'_>, vm: &ScreenVm, theme: &Theme) {
    let area = frame.area();
    frame.render_widget(Screen { vm, theme }, area);
    if theme.ascii {
        ascii::fold(frame.buffer_mut());
    }
    if vm.too_small.is_none()
        && let Some(position) = screen::cursor(vm, area)
    {
        frame.set_cursor_position(position);
    }
}
