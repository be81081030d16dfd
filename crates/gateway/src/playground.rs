//! The GraphiQL playground at `GET /`, served entirely from the binary: the page and the
//! GraphiQL, React and ReactDOM bundles it loads from `/playground/…`. Nothing is fetched
//! from elsewhere, at run time or at build time, so the playground works offline.
//!
//! The bundles are the npm packages' own files, unmodified, embedded at build time from
//! `assets/playground/` (`VENDORED.md` there lists versions and checksums; `refresh.sh`
//! fetches them again).

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

/// The vendored GraphiQL version.
pub const GRAPHIQL_VERSION: &str = "3.8.3";
/// The vendored React and ReactDOM version.
pub const REACT_VERSION: &str = "18.3.1";

/// One embedded file served under `/playground/`.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The URL path it is served at.
    pub path: &'static str,
    /// The package version, appended to the page's URL for it so that a new version is
    /// not read from a browser's cache.
    pub version: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The files under `/playground/`, in the order the page loads them.
pub const ASSETS: [Asset; 4] = [
    Asset {
        path: "/playground/graphiql.min.css",
        version: GRAPHIQL_VERSION,
        content_type: CSS,
        body: include_bytes!("../assets/playground/graphiql/graphiql.min.css"),
    },
    Asset {
        path: "/playground/react.production.min.js",
        version: REACT_VERSION,
        content_type: JS,
        body: include_bytes!("../assets/playground/react/react.production.min.js"),
    },
    Asset {
        path: "/playground/react-dom.production.min.js",
        version: REACT_VERSION,
        content_type: JS,
        body: include_bytes!("../assets/playground/react-dom/react-dom.production.min.js"),
    },
    Asset {
        path: "/playground/graphiql.min.js",
        version: GRAPHIQL_VERSION,
        content_type: JS,
        body: include_bytes!("../assets/playground/graphiql/graphiql.min.js"),
    },
];

/// A year: the files never change under one version, and the page names the version.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Routes serving [`ASSETS`], for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS.iter().fold(Router::new(), |router, asset| {
        let asset = *asset;
        router.route(asset.path, get(move || async move { serve(asset) }))
    })
}

fn serve(asset: Asset) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

/// The playground page: GraphiQL on `endpoint`, opening with `default_query`.
///
/// The headers pane opens with `Authorization: Bearer {key}`, or a placeholder when
/// there is no key. With a key, the fetcher itself also sends it, so that every request
/// carries it, the schema introspection GraphiQL runs on load included, whatever the pane
/// holds; a header the pane sets still overrides it. Without one the fetcher adds
/// nothing: a placeholder would only stand in the way of an `X-API-Key` header.
pub fn page(endpoint: &str, default_query: &str, key: Option<&str>) -> String {
    let (pane, fixed) = match key {
        Some(k) => {
            let auth = json!({"Authorization": format!("Bearer {k}")});
            (auth.clone(), auth)
        }
        None => (json!({"Authorization": "Bearer <your API key>"}), json!({})),
    };
    let settings = json!({
        "url": endpoint,
        "headers": fixed,
        "defaultQuery": default_query,
        "defaultHeaders": pane.to_string(),
    });
    let mut links = String::new();
    let mut scripts = String::new();
    for asset in ASSETS {
        let url = format!("{}?v={}", asset.path, asset.version);
        if asset.content_type == CSS {
            links.push_str(&format!("    <link rel=\"stylesheet\" href=\"{url}\">\n"));
        } else {
            scripts.push_str(&format!("    <script src=\"{url}\"></script>\n"));
        }
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="robots" content="noindex">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="origin">
    <title>contactgraph</title>
    <link rel="icon" href="data:,">
{links}    <style>
      body {{ height: 100%; margin: 0; width: 100%; overflow: hidden; }}
      #graphiql {{ height: 100vh; }}
    </style>
  </head>
  <body>
    <div id="graphiql">Loading…</div>
{scripts}    <script>
      const settings = {settings};
      ReactDOM.createRoot(document.getElementById("graphiql")).render(
        React.createElement(GraphiQL, {{
          fetcher: GraphiQL.createFetcher({{ url: settings.url, headers: settings.headers }}),
          defaultQuery: settings.defaultQuery,
          defaultHeaders: settings.defaultHeaders,
          defaultEditorToolsVisibility: true,
        }})
      );
    </script>
  </body>
</html>
"#,
        settings = script_json(&settings),
    )
}

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` as `\u` escapes, so
/// that no value can close the element or open a comment.
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files() {
        let page = page("/graphql", "{ a }", Some("cg_key"));
        for asset in ASSETS {
            assert!(page.contains(asset.path), "{}", asset.path);
        }
        assert!(!page.contains("//"), "an absolute or protocol-relative URL");
    }

    #[test]
    fn a_value_cannot_close_the_script() {
        let page = page("/graphql", "</script><script>alert(1)</script>", Some("k"));
        assert!(!page.contains("</script><script>alert"));
        assert!(page.contains("\\u003c/script\\u003e"));
    }

    #[test]
    fn the_key_goes_in_the_fetcher_only_when_there_is_one() {
        let with = page("/graphql", "", Some("cg_abc"));
        assert!(with.contains(r#""headers":{"Authorization":"Bearer cg_abc"}"#));
        let without = page("/graphql", "", None);
        assert!(without.contains(r#""headers":{}"#));
        assert!(without.contains("Bearer \\u003cyour API key\\u003e"));
    }
}
