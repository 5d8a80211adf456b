//! Unit tests of `names.rs`: the message type registry.

use super::*;

struct Hand;
impl Message for Hand {}
struct Other;
impl Message for Other {}

#[test]
fn a_registered_type_is_found_by_type_and_by_name_once() {
    let name = std::any::type_name::<Hand>();
    assert!(!read_registry().by_name.contains_key(name));
    register_message_type::<Hand>();
    register_message_type::<Hand>();
    let registry = read_registry();
    let entry = registry.by_type[&TypeId::of::<Hand>()];
    assert_eq!(entry.name, name);
    assert!(std::ptr::eq(registry.by_name[name], entry));
}

#[test]
fn the_first_type_registered_under_a_name_keeps_it() {
    static FIRST: MessageType = MessageType::new::<Hand>("same");
    static SECOND: MessageType = MessageType::new::<Other>("same");
    let mut registry = Registry::default();
    assert!(registry.add(&FIRST));
    assert!(!registry.add(&SECOND));
    assert!(!registry.add(&FIRST));
    assert!(std::ptr::eq(registry.by_name["same"], &FIRST));
    assert!(!registry.by_type.contains_key(&TypeId::of::<Other>()));
}
