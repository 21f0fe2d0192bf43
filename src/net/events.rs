//! Event listeners: `on`/`once`/`off` per event, emitted in registration order without a held
//! borrow (listeners may add or remove listeners, write, end or destroy from inside), and
//! without allocating per emission.

use std::cell::{Cell, RefCell};
use std::fmt;

/// Identifies a registered listener, for `off`. (Rust closures cannot be compared, so where
/// Node's `off` takes the function, ours takes what `on`/`once` returned.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

thread_local! {
    static NEXT_ID: Cell<u64> = const { Cell::new(1) };
}

fn next_id() -> ListenerId {
    NEXT_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        ListenerId(id)
    })
}

type Callback<T, A> = Box<dyn FnMut(&T, &A)>;

struct Entry<T: ?Sized, A: ?Sized> {
    id: ListenerId,
    once: bool,
    f: Callback<T, A>,
}

/// The listeners of one event: called with the emitting object and the event's argument.
pub(crate) struct Listeners<T: 'static, A: ?Sized + 'static> {
    entries: RefCell<Vec<Entry<T, A>>>,
    /// Removed while an emission held the list; dropped when it ends.
    removed: RefCell<Vec<ListenerId>>,
    emitting: Cell<u32>,
    /// `clear` ran during an emission: the emission drops the list it holds.
    cleared: Cell<bool>,
}

impl<T: 'static, A: ?Sized + 'static> Default for Listeners<T, A> {
    fn default() -> Self {
        Listeners {
            entries: RefCell::new(Vec::new()),
            removed: RefCell::new(Vec::new()),
            emitting: Cell::new(0),
            cleared: Cell::new(false),
        }
    }
}

impl<T: 'static, A: ?Sized + 'static> Listeners<T, A> {
    /// Adds a listener called on every emission.
    pub(crate) fn on(&self, f: impl FnMut(&T, &A) + 'static) -> ListenerId {
        self.add(false, Box::new(f))
    }

    /// Adds a listener called on the next emission only.
    pub(crate) fn once(&self, f: impl FnMut(&T, &A) + 'static) -> ListenerId {
        self.add(true, Box::new(f))
    }

    /// Adds a one-shot `FnOnce` listener.
    pub(crate) fn once_fn(&self, f: impl FnOnce(&T, &A) + 'static) -> ListenerId {
        let mut f = Some(f);
        self.once(move |t, a| {
            if let Some(f) = f.take() {
                f(t, a)
            }
        })
    }

    fn add(&self, once: bool, f: Callback<T, A>) -> ListenerId {
        let id = next_id();
        self.entries.borrow_mut().push(Entry { id, once, f });
        id
    }

    /// Removes a listener; true if it was registered here. Removing one during an emission
    /// takes effect after it (Node snapshots the list for each emission).
    pub(crate) fn off(&self, id: ListenerId) -> bool {
        let mut entries = self.entries.borrow_mut();
        if let Some(i) = entries.iter().position(|e| e.id == id) {
            entries.remove(i);
            return true;
        }
        drop(entries);
        if self.emitting.get() > 0 {
            self.removed.borrow_mut().push(id);
            return true;
        }
        false
    }

    /// Registered listeners.
    pub(crate) fn count(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Calls every listener registered when the emission starts, in order; `once` listeners
    /// are removed. Returns whether there was any listener.
    pub(crate) fn emit(&self, target: &T, arg: &A) -> bool {
        // Take the list so listeners run without a borrow held: they may register, remove,
        // or emit again (a nested emission sees only listeners added meanwhile).
        let mut list = std::mem::take(&mut *self.entries.borrow_mut());
        if list.is_empty() {
            // Put back an empty Vec with no capacity loss (nothing was taken).
            *self.entries.borrow_mut() = list;
            return false;
        }
        self.emitting.set(self.emitting.get() + 1);
        // Like Node, an emission calls the listeners registered when it started, even one
        // removed by an earlier listener meanwhile.
        for entry in list.iter_mut() {
            (entry.f)(target, arg);
        }
        self.emitting.set(self.emitting.get() - 1);
        if self.cleared.get() {
            // Cleared from inside (e.g. `into_stream` in a 'data' listener): the listeners
            // held by this emission go too, and with them the clones they captured.
            if self.emitting.get() == 0 {
                self.cleared.set(false);
                self.removed.borrow_mut().clear();
            }
            drop(list);
            return true;
        }
        {
            let removed = self.removed.borrow();
            list.retain(|e| !e.once && !removed.contains(&e.id));
        }
        let mut entries = self.entries.borrow_mut();
        // Listeners added during the emission go after the existing ones.
        let added = std::mem::replace(&mut *entries, list);
        entries.extend(added);
        if self.emitting.get() == 0 {
            self.removed.borrow_mut().clear();
        }
        true
    }

    /// Drops every listener (after 'close': no Rc cycles outlive the object).
    pub(crate) fn clear(&self) {
        if self.emitting.get() > 0 {
            self.cleared.set(true);
        }
        let taken = std::mem::take(&mut *self.entries.borrow_mut());
        drop(taken);
    }
}

impl<T: 'static, A: ?Sized + 'static> fmt::Debug for Listeners<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} listeners", self.count())
    }
}

/// Runs `f` later in this loop turn, after the current task (Node's `process.nextTick`).
pub(crate) fn next_tick(f: impl FnOnce() + 'static) {
    corenet_engine::spawn_local(async move { f() }).detach();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn on_once_off_in_order() {
        let l: Rc<Listeners<(), u32>> = Rc::default();
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = {
            let log = log.clone();
            l.on(move |_, v| log.borrow_mut().push(("a", *v)))
        };
        {
            let log = log.clone();
            l.once(move |_, v| log.borrow_mut().push(("once", *v)));
        }
        assert!(l.emit(&(), &1));
        assert!(l.emit(&(), &2));
        assert!(l.off(a));
        assert!(!l.emit(&(), &3));
        assert_eq!(*log.borrow(), [("a", 1), ("once", 1), ("a", 2)]);
    }

    #[test]
    fn listeners_may_add_and_remove_during_emit() {
        let l: Rc<Listeners<(), ()>> = Rc::default();
        let calls = Rc::new(Cell::new(0));
        let second = Rc::new(Cell::new(None));
        {
            let (l2, calls, second) = (l.clone(), calls.clone(), second.clone());
            l.on(move |_, _| {
                calls.set(calls.get() + 1);
                // Remove the next listener: Node's snapshot still calls it this time.
                if let Some(id) = second.get() {
                    l2.off(id);
                }
                let calls = calls.clone();
                l2.once(move |_, _| calls.set(calls.get() + 100));
            });
        }
        {
            let calls = calls.clone();
            second.set(Some(l.on(move |_, _| calls.set(calls.get() + 10))));
        }
        l.emit(&(), &());
        assert_eq!(
            calls.get(),
            1 + 10,
            "added listeners wait for the next emission"
        );
        l.emit(&(), &());
        // First listener again (+1), the once added in emission 1 (+100); the removed one no
        // longer runs.
        assert_eq!(calls.get(), 11 + 1 + 100);
    }
    #[test]
    fn clear_during_emit_drops_every_listener() {
        let l: Rc<Listeners<(), ()>> = Rc::default();
        let held = Rc::new(());
        {
            let (l2, held) = (l.clone(), held.clone());
            l.on(move |_, _| {
                let _ = &held;
                l2.clear();
            });
        }
        l.on(|_, _| {});
        assert_eq!(Rc::strong_count(&held), 2);
        l.emit(&(), &());
        assert_eq!(
            l.count(),
            0,
            "the emission must not put the cleared list back"
        );
        assert_eq!(Rc::strong_count(&held), 1, "captured clones are dropped");
        l.on(|_, _| {});
        assert!(l.emit(&(), &()), "listeners added after a clear work");
        assert_eq!(l.count(), 1);
    }
}
