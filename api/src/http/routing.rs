//! How routes are made here: one resource per path, with all its methods (so a method a
//! path does not take is a 405 naming those it does), each path recorded for the test
//! that holds the OpenAPI document to them; and `GET` routes that take `HEAD` too.

use actix_web::{guard, web, Route};

/// The paths [`resource`] has made, for the test that holds the OpenAPI document to them.
static REGISTERED: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// The resource of `path`, the one way routes are made here: each path is registered
/// once with all its methods, and recorded for [`registered_paths`].
pub fn resource(path: &'static str) -> actix_web::Resource {
    REGISTERED.lock().expect("not poisoned").insert(path);
    web::resource(path)
}

/// Every path an app built in this process has routed (through [`resource`]).
pub fn registered_paths() -> Vec<String> {
    let paths = REGISTERED.lock().expect("not poisoned");
    paths.iter().map(|path| path.to_string()).collect()
}

/// A route for `GET` that takes `HEAD` too: actix sends a `HEAD`'s answer without its
/// body, and the `Allow` of a `405` names both.
pub fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}
