import { SignUpForm } from '@/components/SignUpForm'

export default function SignUpPage() {
  return (
    <section>
      <h2>Sign up</h2>
      <p>Pick a username; then create a passkey on your account page.</p>
      <SignUpForm />
    </section>
  )
}
