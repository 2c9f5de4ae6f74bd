//! The console's and the admin API's routes, kept as a table while the
//! router is built: [`Routes`] adds each handler to an axum router *and*
//! notes its method and path template, so `crate::route_table()` is exactly what
//! the server serves. The authorisation matrix test and the OpenAPI test
//! compare their own lists with it (`crate::route_table`): a new route that nobody put in the
//! matrix, or in `openapi.json`, fails a test instead of going unchecked.
//!
//! The sync API under `/v1` keeps its plain router (`crate::app`): its
//! routes come from `doorstep_protocol::routes` and have their own matrix
//! (`tests/tests/authorization.rs`).

use axum::Router;
use axum::handler::Handler;
use axum::routing::{MethodFilter, on};

use crate::app::AppState;

/// One route: a method and a path template (`/admin/v1/devices/{id}/revoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServedRoute {
    /// `GET`, `POST` or `DELETE`.
    pub method: &'static str,
    pub path: &'static str,
}

/// A router under construction, with the table of what it serves.
#[derive(Debug)]
pub struct Routes {
    router: Router<AppState>,
    served: Vec<ServedRoute>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            served: Vec::new(),
        }
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(MethodFilter::GET, "GET", path, handler)
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add(MethodFilter::POST, "POST", path, handler)
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
    ) -> Self {
        self.add(MethodFilter::DELETE, "DELETE", path, handler)
    }

    fn add<H: Handler<T, AppState>, T: 'static>(
        mut self,
        filter: MethodFilter,
        method: &'static str,
        path: &'static str,
        handler: H,
    ) -> Self {
        // axum merges the methods of one path (and panics on the same
        // method twice, as it should).
        self.router = self.router.route(path, on(filter, handler));
        self.served.push(ServedRoute { method, path });
        self
    }

    /// Both routers' routes in one.
    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self
    }

    /// What this router serves, in the order the routes were added.
    pub fn served(&self) -> &[ServedRoute] {
        &self.served
    }
}

impl From<Routes> for Router<AppState> {
    fn from(routes: Routes) -> Self {
        routes.router
    }
}
