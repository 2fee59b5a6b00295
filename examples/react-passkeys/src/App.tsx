import { Show, useUser } from '@clerk/react'
import { AutofillSignIn } from './components/AutofillSignIn'
import { CreatePasskeyButton } from './components/CreatePasskeyButton'
import { DeletePasskeyUI } from './components/DeletePasskeyUI'
import { RenamePasskeyUI } from './components/RenamePasskeyUI'
import { SignInWithPasskeyButton } from './components/SignInWithPasskeyButton'
import { SignOutButton } from './components/SignOutButton'
import { SignUpForm } from './components/SignUpForm'
import { Status } from './components/Status'
import { navigate, usePathname } from './router'

function Link({ to, children }: { to: string; children: React.ReactNode }) {
  return (
    <a
      href={to}
      onClick={(e) => {
        e.preventDefault()
        navigate(to)
      }}
    >
      {children}
    </a>
  )
}

function Account() {
  const { user } = useUser()
  return (
    <>
      <p>
        Signed in as <strong>{user?.username ?? user?.id}</strong> <SignOutButton />
      </p>
      <section id="create">
        <CreatePasskeyButton />
      </section>
      <section id="rename">
        <h3>Rename</h3>
        <RenamePasskeyUI />
      </section>
      <section id="delete">
        <h3>Delete</h3>
        <DeletePasskeyUI />
      </section>
    </>
  )
}

function Home() {
  return (
    <>
      <Show when="signed-in">
        <Account />
      </Show>
      <Show when="signed-out">
        <p>You are signed out.</p>
      </Show>
    </>
  )
}

export function App() {
  const path = usePathname()
  let page: React.ReactNode
  switch (path) {
    case '/sign-up':
      page = (
        <>
          <h2>Sign up</h2>
          <SignUpForm />
        </>
      )
      break
    case '/sign-in':
      page = (
        <>
          <h2>Sign in</h2>
          <SignInWithPasskeyButton />
        </>
      )
      break
    case '/sign-in-autofill':
      page = (
        <>
          <h2>Sign in (autofill)</h2>
          <AutofillSignIn />
        </>
      )
      break
    default:
      page = <Home />
  }
  return (
    <main style={{ fontFamily: 'system-ui, sans-serif', maxWidth: 720, margin: '2rem auto' }}>
      <h1>Latch · passkeys with the Clerk SDK</h1>
      <nav>
        <Link to="/">Home</Link> · <Link to="/sign-up">Sign up</Link> · <Link to="/sign-in">Sign in</Link> ·{' '}
        <Link to="/sign-in-autofill">Sign in (autofill)</Link>
      </nav>
      <div id="page" data-path={path}>
        {page}
      </div>
      <Status />
    </main>
  )
}
