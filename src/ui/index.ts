/** The dashboard: its static files (static/) and the routes that serve them. */
export { uiRoutes, UI_ASSETS } from './routes.ts'
