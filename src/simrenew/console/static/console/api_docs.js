/* Starts Swagger UI on the API docs page (api/templates/api/docs.html), as ninja's
   swagger-ui-init.js does, plus a plugin that mends its heading levels (axe: heading-order), so
   that assistive technology hears no level skipped:
   - an "Operations" heading (h2) above the operation groups: Swagger UI titles the page with an
     h1 and each group with an h3;
   - a "Schemas" heading (h2) above the schemas: Swagger UI's own is an h4 right after the
     Webhooks h2 (a button that folds the list; console/api_docs.css hides it, the list stays open).
   A file from 'self', not an inline script: the page's Content-Security-Policy allows no other. */
(function () {
  "use strict";
  const page = document.body.dataset;
  const config = JSON.parse(document.getElementById("swagger-settings").textContent);

  function headed(title, className) {
    return (Original, system) => (props) => {
      const React = system.React;
      return React.createElement(
        "div",
        { className: className },
        React.createElement("h2", { className: "api-docs-heading" }, title),
        React.createElement(Original, props)
      );
    };
  }

  function headingLevels() {
    return {
      wrapComponents: {
        operations: headed("Operations", "api-docs-operations"),
        Models: headed("Schemas", "api-docs-schemas"),
      },
    };
  }

  config.dom_id = "#swagger-ui";
  config.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
  config.plugins = [headingLevels];
  if (page.apiCsrf && page.csrfToken) {
    config.requestInterceptor = (request) => {
      request.headers["X-CSRFToken"] = page.csrfToken;
      return request;
    };
  }
  window.ui = SwaggerUIBundle(config);
})();
